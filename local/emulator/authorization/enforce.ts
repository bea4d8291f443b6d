import type { EmulatorContext } from '../context.js';
import { AwsError, RawReply, errorReply, signedScope, type AwsCall, type RawRequest } from '../protocol.js';
import { callerOf } from '../services/caller.js';
import { unmodelled } from './errors.js';
import { authorizeRequests } from './evaluate.js';
import { AUTHORIZED_BY_HANDLER } from './model.js';
import { iamPrefix, modelOf } from './operations/index.js';
import { usesGroupKey } from './operations/logs.js';
import { iamWriteTargets, invalidatePrincipals } from './principals.js';
import { rememberIssuedKey } from './signature.js';

/**
 * The hook server.ts runs around every parsed AWS call: the caller is resolved from the access key
 * (caller.ts) and, unless it is the operator's own (admin) credentials, the call is authorized as
 * AWS would authorize it (operations/ builds the requests, evaluate.ts decides) before it reaches
 * the emulator's handler or moto. After an IAM write, the policies cached for the principals it
 * touched are dropped (principals.ts).
 */
export async function authorizeCall(ctx: EmulatorContext, call: AwsCall): Promise<void> {
  const caller = await callerOf(ctx, call);
  // The admin is allowed everything, but a service acting as itself (CloudWatch Logs with a group's
  // KMS key) is refused by the key policy whoever asked it to.
  if (caller.type === 'Root' && !(call.service === 'logs' && usesGroupKey(call.operation, call.input)))
    return;
  const model = modelOf(call.service, call.operation);
  if (model === AUTHORIZED_BY_HANDLER) return;
  if (!model) throw unmodelled(call, caller.arn, `${iamPrefix(call.service)}:${call.operation}`);
  const requests = await model({
    call,
    ctx,
    caller,
    region: call.region,
    account: caller.accountId,
    input: call.input ?? {},
  });
  await authorizeRequests(ctx, call, caller, requests);
}

/** `dispatch` behind authorization, with the policy cache kept in step with IAM writes. */
export async function guarded(
  ctx: EmulatorContext,
  call: AwsCall,
  dispatch: (call: AwsCall) => Promise<RawReply>,
): Promise<RawReply> {
  try {
    await authorizeCall(ctx, call);
  } catch (err) {
    if (err instanceof AwsError) return errorReply(call, err);
    console.error(`emulator: authorizing ${call.service}.${call.operation} failed:`, err);
    return errorReply(call, new AwsError('InternalServerError', (err as Error).message, 500));
  }
  try {
    const reply = await dispatch(call);
    rememberIssuedKey(ctx, call, reply);
    return reply;
  } finally {
    // Even a failed write may have taken effect (a lost reply): drop what it may have changed.
    const targets = iamWriteTargets(call);
    if (targets) invalidatePrincipals(ctx, targets);
  }
}

/**
 * A signed request the emulator cannot parse (a REST protocol: S3, Lambda, ...) has no model: it
 * is refused unless it comes with the admin's credentials. Undefined when it may go to moto.
 */
export async function refuseUnparsed(ctx: EmulatorContext, raw: RawRequest): Promise<RawReply | undefined> {
  const scope = signedScope(raw);
  if (!scope) return undefined;
  const { accessKeyId, region, service } = scope;
  const operation = `${raw.method} ${raw.url.split('?')[0]}`;
  const call: AwsCall = { service, region, accessKeyId, operation, protocol: 'json', input: {}, raw };
  try {
    const caller = await callerOf(ctx, call);
    if (caller.type === 'Root') return undefined;
    throw unmodelled(call, caller.arn, `${iamPrefix(service)}:${operation}`);
  } catch (err) {
    if (!(err instanceof AwsError)) throw err;
    return new RawReply(
      err.status === 400 ? 403 : err.status,
      { 'content-type': 'application/json', 'x-amzn-errortype': err.code },
      JSON.stringify({ __type: err.code, message: err.message, Message: err.message }),
    );
  }
}
