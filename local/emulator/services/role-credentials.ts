import { GetRoleCommand, IAMClient, type Role } from '@aws-sdk/client-iam';
import { authorizeRequests } from '../authorization/evaluate.js';
import { evaluateTrust, parseTrustPolicy, type TrustPrincipal } from '../authorization/trust.js';
import type { ControlHandler, EmulatorContext, OperationHandler } from '../context.js';
import { AwsError, STS_NAMESPACE, iamReply, type AwsCall } from '../protocol.js';
import { callerOf, requestContext } from './caller.js';
import { credentialsOf, issueRoleSession, type RoleSession } from './role-sessions.js';

/**
 * Role credentials: STS AssumeRole and GetCallerIdentity, served here for every caller, and the
 * control endpoint through which the local runner acts as an AWS service assuming a role:
 * `POST /__emulator/assume-role-for-service`. The simulated hosts get theirs from
 * assumeRoleAsService as well (node-credentials.ts). Both check the role's trust policy
 * (authorization/trust.ts); AssumeRole also the caller's identity policy.
 */

const ROLE_ARN = /^arn:aws:iam::(\d{12}):role\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]+)$/;
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
const DEFAULT_SECONDS = 3600;
const MIN_SECONDS = 900;
/** A role session assuming another role (role chaining) gets at most an hour, whatever the role allows. */
const CHAINED_MAX_SECONDS = 3600;

/** The role as moto stores it, when `roleArn` names one (path included) in this account. */
async function findRole(ctx: EmulatorContext, roleArn: string): Promise<Role | undefined> {
  const match = ROLE_ARN.exec(roleArn);
  if (!match || match[1] !== ctx.accountId) return undefined;
  try {
    const { Role } = await ctx.moto(IAMClient, 'us-east-1').send(new GetRoleCommand({ RoleName: match[2] }));
    return Role?.Arn === roleArn ? Role : undefined;
  } catch (err) {
    if ((err as Error).name === 'NoSuchEntityException') return undefined;
    throw err;
  }
}

function durationOf(requested: unknown, role: Role, maxSeconds = role.MaxSessionDuration ?? 3600): number {
  if (requested === undefined || requested === '') return Math.min(DEFAULT_SECONDS, maxSeconds);
  const seconds = Number(requested);
  if (!Number.isInteger(seconds) || seconds < MIN_SECONDS)
    throw new AwsError(
      'ValidationError',
      `1 validation error detected: Value '${String(requested)}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to ${MIN_SECONDS}`,
    );
  if (seconds > maxSeconds)
    throw new AwsError(
      'ValidationError',
      `The requested DurationSeconds exceeds the MaxSessionDuration set for this role.`,
    );
  return seconds;
}

function trustRefusal(who: string, roleArn: string, decision: string): AwsError {
  const why =
    decision === 'explicitDeny'
      ? 'with an explicit deny in a resource-based policy'
      : "because the role's trust policy does not allow it";
  return new AwsError(
    'AccessDenied',
    `User: ${who} is not authorized to perform: sts:AssumeRole on resource: ${roleArn} ${why}`,
    403,
  );
}

interface ServiceAssumeRequest {
  roleArn?: unknown;
  service?: unknown;
  sessionName?: unknown;
  sourceAccount?: unknown;
  sourceArn?: unknown;
  durationSeconds?: unknown;
}

/** What an AWS service presents when it assumes a role for a resource of the account. */
export interface ServiceAssumption {
  roleArn: string;
  /** The service principal, e.g. lambda.amazonaws.com, ec2.amazonaws.com, ssm.amazonaws.com. */
  service: string;
  sessionName: string;
  sourceAccount?: string;
  sourceArn?: string;
  durationSeconds?: unknown;
}

/**
 * A role session for `service`, when the role exists and its trust policy lets the service call
 * sts:AssumeRole given the request's aws:SourceAccount and aws:SourceArn; AccessDenied otherwise.
 * The control endpoint below uses it for the local runner's functions, the fleet
 * (node-credentials.ts) for the lab hosts' instance profiles, hybrid nodes and DHMC.
 */
export async function assumeRoleAsService(
  ctx: EmulatorContext,
  request: ServiceAssumption,
): Promise<RoleSession> {
  const { roleArn, service, sessionName } = request;
  if (!SESSION_NAME.test(sessionName))
    throw new AwsError('ValidationError', `sessionName must match ${SESSION_NAME.source}`, 400);
  const role = await findRole(ctx, roleArn);
  if (!role)
    throw new AwsError(
      'AccessDenied',
      `${service} cannot assume ${roleArn}: no such role in this account`,
      403,
    );
  const context: Record<string, string> = {};
  if (request.sourceAccount !== undefined) context['aws:SourceAccount'] = request.sourceAccount;
  if (request.sourceArn !== undefined) context['aws:SourceArn'] = request.sourceArn;
  const decision = evaluateTrust(
    parseTrustPolicy(role.AssumeRolePolicyDocument) ?? [],
    { kind: 'service', service },
    'sts:AssumeRole',
    context,
  );
  if (decision !== 'allowed') throw trustRefusal(service, roleArn, decision);
  return issueRoleSession(
    ctx,
    { roleArn, roleName: role.RoleName!, roleId: role.RoleId! },
    sessionName,
    durationOf(request.durationSeconds, role),
  );
}

/**
 * `{roleArn, service, sessionName, sourceAccount?, sourceArn?, durationSeconds?}` ->
 * `{accessKeyId, secretAccessKey, sessionToken, expiration}`, when the role exists and its trust
 * policy lets `service` (e.g. lambda.amazonaws.com) call sts:AssumeRole. aws:SourceAccount and
 * aws:SourceArn conditions are met only by the matching fields of the request.
 */
async function assumeRoleForService(body: unknown, ctx: EmulatorContext) {
  const request = (body ?? {}) as ServiceAssumeRequest;
  const { roleArn, service, sessionName } = request;
  if (typeof roleArn !== 'string' || typeof service !== 'string' || typeof sessionName !== 'string')
    throw new AwsError('ValidationError', 'roleArn, service and sessionName are required strings', 400);
  const session = await assumeRoleAsService(ctx, {
    roleArn,
    service,
    sessionName,
    sourceAccount: typeof request.sourceAccount === 'string' ? request.sourceAccount : undefined,
    sourceArn: typeof request.sourceArn === 'string' ? request.sourceArn : undefined,
    durationSeconds: request.durationSeconds,
  });
  return credentialsOf(session);
}

/** Session policies and tags would narrow or tag the session: not modelled, so refused, never ignored. */
const UNSUPPORTED = [
  'Policy',
  'PolicyArns',
  'Tags',
  'TransitiveTagKeys',
  'SerialNumber',
  'TokenCode',
  'SourceIdentity',
];

async function assumeRole(call: AwsCall, ctx: EmulatorContext) {
  const caller = await callerOf(ctx, call);
  const input = (call.input ?? {}) as Record<string, unknown>;
  const unsupported = UNSUPPORTED.filter((field) => input[field] !== undefined);
  if (unsupported.length)
    throw new AwsError(
      'ValidationError',
      `The session-lab emulator does not model AssumeRole's ${unsupported.join(', ')}`,
    );
  const roleArn = String(input.RoleArn ?? '');
  const sessionName = String(input.RoleSessionName ?? '');
  if (!SESSION_NAME.test(sessionName))
    throw new AwsError(
      'ValidationError',
      `1 validation error detected: Value '${sessionName}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*`,
    );
  const denied = () => trustRefusal(caller.arn, roleArn, 'implicitDeny');
  // The caller's own policies must allow sts:AssumeRole on the role (the admin needs none).
  await authorizeRequests(ctx, call, caller, [
    {
      action: 'sts:AssumeRole',
      resource: roleArn,
      existing: { kind: 'iam-role', name: roleArn.slice(roleArn.lastIndexOf('/') + 1) },
    },
  ]);
  const role = await findRole(ctx, roleArn);
  if (!role) throw denied();
  const who: TrustPrincipal = {
    kind: 'aws',
    arn: caller.arn,
    accountId: caller.accountId,
    roleArn: caller.roleArn,
  };
  const context: Record<string, string> = {
    ...requestContext(caller, call.region),
    'sts:RoleSessionName': sessionName,
  };
  if (typeof input.ExternalId === 'string') context['sts:ExternalId'] = input.ExternalId;
  const decision = evaluateTrust(
    parseTrustPolicy(role.AssumeRolePolicyDocument) ?? [],
    who,
    'sts:AssumeRole',
    context,
  );
  if (decision !== 'allowed') throw trustRefusal(caller.arn, roleArn, decision);
  const max = caller.type === 'AssumedRole' ? CHAINED_MAX_SECONDS : (role.MaxSessionDuration ?? 3600);
  const session = issueRoleSession(
    ctx,
    { roleArn, roleName: role.RoleName!, roleId: role.RoleId! },
    sessionName,
    durationOf(input.DurationSeconds, role, max),
  );
  const credentials = credentialsOf(session);
  return iamReply(
    'AssumeRole',
    {
      Credentials: {
        AccessKeyId: credentials.accessKeyId,
        SecretAccessKey: credentials.secretAccessKey,
        SessionToken: credentials.sessionToken,
        Expiration: credentials.expiration,
      },
      AssumedRoleUser: {
        AssumedRoleId: `${role.RoleId}:${sessionName}`,
        Arn: `arn:aws:sts::${ctx.accountId}:assumed-role/${role.RoleName}/${sessionName}`,
      },
      PackedPolicySize: 0,
    },
    STS_NAMESPACE,
  );
}

async function getCallerIdentity(call: AwsCall, ctx: EmulatorContext) {
  const caller = await callerOf(ctx, call);
  return iamReply(
    'GetCallerIdentity',
    { UserId: caller.principalId, Account: caller.accountId, Arn: caller.arn },
    STS_NAMESPACE,
  );
}

export const securityTokenService: Record<string, OperationHandler> = {
  AssumeRole: assumeRole,
  GetCallerIdentity: getCallerIdentity,
};

export const roleCredentialControls: Record<string, ControlHandler> = {
  'assume-role-for-service': assumeRoleForService,
};
