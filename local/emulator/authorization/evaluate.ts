// AGPL-licensed: used by the local emulator only (see iam-simulation.ts).
import { typeForContextKey } from '@cloud-copilot/iam-simulate';
import type { EmulatorContext } from '../context.js';
import type { AwsCall } from '../protocol.js';
import { requestContext, type Caller } from '../services/caller.js';
import { simulate, type ContextValues, type PrincipalPolicies } from '../services/iam-simulation.js';
import { resourceTagContext } from './context-keys.js';
import { accessDenied, type DenialReason } from './errors.js';
import type { AuthRequest } from './model.js';
import { principalPolicies } from './principals.js';
import { needsLookup, readResource } from './resources.js';

/**
 * Evaluates a caller's request triples (model.ts) with the same evaluator as the IAM policy
 * simulator (@cloud-copilot/iam-simulate): the caller's identity policies and permissions
 * boundary, a resource's own policy when it has one, and the request context AWS would build
 * (global keys, request tags, the resource's tags). The first triple refused ends the request
 * with AWS's error for the call's protocol.
 */

const NO_POLICIES: Omit<PrincipalPolicies, 'arn' | 'kind' | 'name'> = { identity: [] };

/** Whether any of the principal's policies reads a resource's tags (else they are not read). */
const readsTags = new WeakMap<PrincipalPolicies, boolean>();
function policiesReadTags(policies: PrincipalPolicies): boolean {
  let known = readsTags.get(policies);
  if (known === undefined) {
    known = [...policies.identity, ...(policies.boundary ?? [])].some((p) => /resourcetag\//i.test(p.text));
    readsTags.set(policies, known);
  }
  return known;
}

async function policiesOf(ctx: EmulatorContext, caller: Caller) {
  const arn = caller.roleArn ?? caller.arn;
  try {
    return await principalPolicies(ctx, arn);
  } catch (err) {
    // A role or user deleted while its credentials live: it holds no permissions any more.
    if ((err as Error).name === 'NoSuchEntity')
      return { ...NO_POLICIES, arn, kind: 'role', name: '' } as PrincipalPolicies;
    throw err;
  }
}

/**
 * Whether the evaluator knows a condition key: it refuses a request context holding a key it has
 * no type for (secretsmanager:ResourceTag/<key> is one such spelling), so such keys are left out.
 */
const knownKeys = new Map<string, Promise<boolean>>();
function isKnownKey(key: string): Promise<boolean> {
  let known = knownKeys.get(key);
  if (!known) {
    known = typeForContextKey(key).then(
      () => true,
      () => false,
    );
    knownKeys.set(key, known);
  }
  return known;
}

async function knownContext(context: ContextValues): Promise<ContextValues> {
  const entries = Object.entries(context);
  const known = await Promise.all(entries.map(([key]) => isKnownKey(key)));
  return Object.fromEntries(entries.filter((_, i) => known[i]));
}

const accountOf = (arn: string) => /^arn:[^:]*:[^:]*:[^:]*:(\d{12}):/.exec(arn)?.[1];

/**
 * Authorizes every triple for the caller, or throws the AWS error of the first refused one. The
 * admin (root) is allowed everything. `call` gives the protocol the refusal is worded for.
 */
export async function authorizeRequests(
  ctx: EmulatorContext,
  call: Pick<AwsCall, 'protocol' | 'service' | 'region'>,
  caller: Caller,
  requests: AuthRequest[],
): Promise<void> {
  if (caller.type === 'Root' || requests.length === 0) return;
  const policies = await policiesOf(ctx, caller);
  const global = requestContext(caller, call.region, new Date(), policies.tags);
  const readTags = policiesReadTags(policies);
  for (const request of requests) {
    let resource = request.resource;
    let resourceContext: ContextValues = {};
    let resourcePolicy;
    if (request.existing && (readTags || needsLookup(request.existing))) {
      const facts = await readResource(ctx, request.existing);
      if (facts.arn) resource = facts.arn;
      resourceContext = resourceTagContext(request.action.split(':')[0]!, facts.tags);
      resourcePolicy = facts.resourcePolicy;
    }
    const evaluation = await simulate({
      principalArn: caller.arn,
      action: request.action,
      resourceArn: resource,
      resourceAccount: accountOf(resource) ?? ctx.accountId,
      identity: policies.identity,
      boundary: policies.boundary,
      resourcePolicy,
      context: await knownContext({ ...global, ...resourceContext, ...request.context }),
    });
    if (evaluation.decision === 'allowed') continue;
    let reason: DenialReason = 'implicit';
    if (evaluation.decision === 'explicitDeny') {
      reason = evaluation.matchedStatements.some((s) => s.SourcePolicyType === 'resource')
        ? 'resource-deny'
        : 'identity-deny';
    } else if (evaluation.allowedByPermissionsBoundary === false) {
      reason = 'boundary';
    }
    throw accessDenied(call, caller.arn, request.action, resource, reason);
  }
}
