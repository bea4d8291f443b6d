import type { EmulatorContext } from '../context.js';
import type { AwsCall } from '../protocol.js';
import type { PrincipalPolicies } from '../services/iam-simulation/policies.js';
import { loadPrincipalPolicies } from '../services/iam-simulation/stored-policies.js';

/**
 * A principal's policies, read from moto once and kept until an IAM write through the emulator
 * touches the user, role, group or managed policy they came from: a lab run makes hundreds of
 * calls as a handful of roles, and reading a role's policies costs several moto calls.
 *
 * Each entry records what it depends on (`role:<name>`, `user:<name>`, `group:<name>`,
 * `policy:<arn>`). A write is invalidated once it has taken effect, so a read that raced with it
 * is dropped too; a write whose target the emulator cannot tell clears everything.
 */

interface Entry {
  policies: Promise<PrincipalPolicies>;
  dependsOn: Set<string>;
}

const cacheOf = (ctx: EmulatorContext) =>
  ctx.slice('authorization:principals', () => ({ entries: new Map<string, Entry>() }));

export function principalPolicies(ctx: EmulatorContext, principalArn: string): Promise<PrincipalPolicies> {
  const cache = cacheOf(ctx);
  const hit = cache.entries.get(principalArn);
  if (hit) return hit.policies;
  const policies = loadPrincipalPolicies(ctx, principalArn);
  const entry: Entry = { policies, dependsOn: new Set() };
  cache.entries.set(principalArn, entry);
  policies.then(
    (p) => {
      entry.dependsOn.add(`${p.kind}:${p.name}`);
      for (const policy of [...p.identity, ...(p.boundary ?? [])])
        if (policy.arn) entry.dependsOn.add(`policy:${policy.arn}`);
      for (const group of p.groups ?? []) entry.dependsOn.add(`group:${group}`);
    },
    // A principal that is gone (or a failed read) is read again next time.
    () => {
      if (cache.entries.get(principalArn) === entry) cache.entries.delete(principalArn);
    },
  );
  return policies;
}

/** IAM operations that change nothing. */
const READ_ONLY = /^(Get|List|Simulate|Generate)/;

/** Writes that name no principal or policy and change no principal's permissions. */
const NO_PRINCIPAL_EFFECT =
  /^(CreatePolicy|\w+InstanceProfile|\w+AccountPasswordPolicy|\w+AccountAlias|ChangePassword)$/;

/** What an IAM call changes, when it is a write: the principals and policies it names. */
export function iamWriteTargets(call: AwsCall): string[] | 'all' | undefined {
  if (call.service !== 'iam' || READ_ONLY.test(call.operation)) return undefined;
  const input = (call.input ?? {}) as Record<string, unknown>;
  const targets: string[] = [];
  if (typeof input.RoleName === 'string') targets.push(`role:${input.RoleName}`);
  if (typeof input.UserName === 'string') targets.push(`user:${input.UserName}`);
  if (typeof input.GroupName === 'string') targets.push(`group:${input.GroupName}`);
  if (typeof input.PolicyArn === 'string') targets.push(`policy:${input.PolicyArn}`);
  if (targets.length > 0) return targets;
  return NO_PRINCIPAL_EFFECT.test(call.operation) ? [] : 'all';
}

/** Drops the cached policies of every principal that depends on one of `targets`. */
export function invalidatePrincipals(ctx: EmulatorContext, targets: string[] | 'all'): void {
  const { entries } = cacheOf(ctx);
  if (targets === 'all') {
    entries.clear();
    return;
  }
  for (const [arn, entry] of entries) {
    // A load still running has no dependencies yet: drop it too, it may have read the old state.
    if (entry.dependsOn.size === 0 || targets.some((t) => entry.dependsOn.has(t))) entries.delete(arn);
  }
}
