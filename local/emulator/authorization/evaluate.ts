// AGPL-licensed: used by the local emulator only (see iam-simulation/simulate.ts).
import { typeForContextKey } from '@cloud-copilot/iam-simulate';
import type { EmulatorContext } from '../context.js';
import type { AwsCall } from '../protocol.js';
import { requestContext, type Caller } from '../services/caller.js';
import {
  sourcePolicy,
  type ContextValues,
  type PrincipalPolicies,
} from '../services/iam-simulation/policies.js';
import { simulate, type SimulationRequest } from '../services/iam-simulation/simulate.js';
import { resourceTagContext } from './context-keys.js';
import { accessDenied, denialMessage, type DenialReason } from './errors.js';
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

const keyIdOf = (request: AuthRequest) =>
  request.existing?.kind === 'kms-key' ? request.existing.id : request.resource;

/** The request context of a service principal acting itself (aws:PrincipalIsAWSService). */
function serviceContext(servicePrincipal: string, region: string, now = new Date()): ContextValues {
  return {
    'aws:PrincipalIsAWSService': 'true',
    'aws:PrincipalServiceName': servicePrincipal,
    'aws:ViaAWSService': 'false',
    'aws:SecureTransport': 'true',
    'aws:RequestedRegion': region,
    'aws:CurrentTime': now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    'aws:EpochTime': String(Math.floor(now.getTime() / 1000)),
  };
}

const ALLOW_ALL = sourcePolicy(
  'AllowAll',
  'none',
  JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }),
);

/**
 * Whether no identity grant could have allowed the refused request: the resource policy (a key
 * policy) neither allows the principal nor delegates to the account. AWS then says that no
 * resource-based policy allows the action.
 */
async function identityCannotHelp(simulation: SimulationRequest): Promise<boolean> {
  if (simulation.identity.length === 0 && simulation.principalArn.endsWith('.amazonaws.com')) return true;
  const granted = await simulate({ ...simulation, identity: [ALLOW_ALL], boundary: undefined });
  return granted.decision !== 'allowed';
}

const accountOf = (arn: string) => /^arn:[^:]*:[^:]*:[^:]*:(\d{12}):/.exec(arn)?.[1];

/**
 * Authorizes every triple for the caller, or throws the AWS error of the first refused one. The
 * admin (root) is allowed everything but what a service principal asks as itself (a log group's
 * KMS key). `call` gives the protocol the refusal is worded for.
 */
export async function authorizeRequests(
  ctx: EmulatorContext,
  call: Pick<AwsCall, 'protocol' | 'service' | 'region'>,
  caller: Caller,
  requests: AuthRequest[],
): Promise<void> {
  // The admin is allowed everything it asks itself; a service principal's own requests still count.
  if (caller.type === 'Root') requests = requests.filter((r) => r.servicePrincipal);
  if (requests.length === 0) return;
  const policies = requests.every((r) => r.servicePrincipal)
    ? ({ ...NO_POLICIES, arn: caller.arn, kind: 'user', name: '' } as PrincipalPolicies)
    : await policiesOf(ctx, caller);
  const global = requestContext(caller, call.region, new Date(), policies.tags);
  const readTags = policiesReadTags(policies);
  for (const request of requests) {
    let resource = request.resource;
    let resourceContext: ContextValues = {};
    let resourcePolicy;
    if (request.existing && (readTags || needsLookup(request.existing))) {
      const facts = await readResource(ctx, request.existing);
      if (facts.missing) {
        // A KMS key that is not there: the service that wanted it says so; KMS itself answers NotFound.
        const refusal = request.refuse?.({ message: '', missing: true, keyId: keyIdOf(request) });
        if (refusal) throw refusal;
        continue;
      }
      if (facts.arn) resource = facts.arn;
      resourceContext = resourceTagContext(request.action.split(':')[0]!, facts.tags);
      resourcePolicy = facts.resourcePolicy;
    }
    const principalArn = request.servicePrincipal ?? caller.arn;
    const simulation = {
      principalArn,
      action: request.action,
      resourceArn: resource,
      resourceAccount: accountOf(resource) ?? ctx.accountId,
      identity: request.servicePrincipal ? [] : policies.identity,
      boundary: request.servicePrincipal ? undefined : policies.boundary,
      resourcePolicy,
      context: await knownContext({
        ...(request.servicePrincipal ? serviceContext(request.servicePrincipal, call.region) : global),
        ...resourceContext,
        ...request.context,
      }),
    };
    const evaluation = await simulate(simulation);
    if (evaluation.decision === 'allowed') continue;
    let reason: DenialReason = 'implicit';
    if (evaluation.decision === 'explicitDeny') {
      reason = evaluation.matchedStatements.some((s) => s.SourcePolicyType === 'resource')
        ? 'resource-deny'
        : 'identity-deny';
    } else if (evaluation.allowedByPermissionsBoundary === false) {
      reason = 'boundary';
    } else if (resourcePolicy && (await identityCannotHelp(simulation))) {
      // A KMS key whose policy neither allows the caller nor delegates to the account's IAM.
      reason = 'no-resource-allow';
    }
    const refusal = request.refuse?.({
      message: denialMessage(principalArn, request.action, resource, reason),
      missing: false,
      keyId: keyIdOf(request),
    });
    throw refusal ?? accessDenied(call, principalArn, request.action, resource, reason);
  }
}
