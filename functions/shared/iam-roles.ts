import {
  AttachRolePolicyCommand,
  CreateRoleCommand,
  DetachRolePolicyCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  PutRolePolicyCommand,
  UpdateAssumeRolePolicyCommand,
  paginateListAttachedRolePolicies,
  type IAMClient,
  type Role,
} from '@aws-sdk/client-iam';
import { IamNotPropagatedYet, LabStateMismatch, NotReadyYet, isErrorNamed } from './errors.js';
import { isSupersededPolicy } from './names.js';
import type { Tag } from './tags.js';

/**
 * Converging the account-wide roles session-lab shares between labs: create when
 * missing, rewrite a trust policy that differs, attach what is missing, then read everything back
 * like the seed's list-attached-role-policies / get-role checks.
 */

export interface PolicyDocument {
  Version: string;
  Statement: Record<string, unknown>[];
}

/** The trust policy of an EC2 instance role. */
export const EC2_TRUST_POLICY: PolicyDocument = {
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
};

/** The `aws:SourceArn` values of a trust policy (string or list, anywhere in its conditions). */
function sourceArns(policy: unknown): string[] {
  const found: string[] = [];
  const statements = (policy as { Statement?: unknown } | undefined)?.Statement;
  for (const statement of [statements].flat()) {
    const conditions = (statement as { Condition?: Record<string, Record<string, unknown>> } | undefined)
      ?.Condition;
    for (const operator of Object.values(conditions ?? {})) {
      const value = operator?.['aws:SourceArn'];
      for (const arn of [value].flat()) if (typeof arn === 'string') found.push(arn);
    }
  }
  return found;
}

/**
 * The trust policy of a role hybrid nodes assume (SSMServiceRole, create-service-role; a lab's
 * DevOnPrem role, shared/dev-host-roles.ts): Systems Manager, with the confused-deputy conditions.
 * IAM is global but SourceArn names a Region, so the Regions already allowed for this account are
 * kept: labs deployed in two Regions must not take the role's trust from each other.
 */
export function serviceTrustPolicy(
  current: unknown,
  account: { accountId: string; partition: string },
  region: string,
): PolicyDocument {
  const ours = `arn:${account.partition}:ssm:${region}:${account.accountId}:*`;
  const sameAccount = new RegExp(`^arn:${account.partition}:ssm:[a-z0-9-]+:${account.accountId}:\\*$`);
  const arns = [...new Set([ours, ...sourceArns(current).filter((arn) => sameAccount.test(arn))])].sort();
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Service: 'ssm.amazonaws.com' },
        Action: 'sts:AssumeRole',
        Condition: {
          StringEquals: { 'aws:SourceAccount': account.accountId },
          ArnEquals: { 'aws:SourceArn': arns.length === 1 ? arns[0] : arns },
        },
      },
    ],
  };
}

export interface RoleSpec {
  roleName: string;
  description: string;
  tags: Tag[];
  /** Exactly these managed policies must be attached. */
  managedPolicies: readonly string[];
  /** The trust policy wanted, given the one the role has now (undefined while it does not exist). */
  trustPolicy: (current: unknown) => PolicyDocument;
  /**
   * Inline policies the role must hold, by name, exactly (others of other names are left alone:
   * the session logging policy is configure-session-logging's).
   */
  inlinePolicies?: Record<string, PolicyDocument>;
  /**
   * The managed policy the role must have as its permissions boundary: set at creation and checked
   * on read-back. Putting it on an existing role is its owner's (bootstrap-role.ts), before this
   * converges the role, so the roles that have none are not charged with the permission to.
   */
  permissionsBoundary?: string;
}

/**
 * GetRole returns AssumeRolePolicyDocument URL-encoded (RFC 3986); moto and older tools may return
 * plain JSON. Either way the parsed document comes back.
 */
export function parsePolicyDocument(document: string): unknown {
  const text = document.trimStart().startsWith('{') ? document : decodeURIComponent(document);
  return JSON.parse(text);
}

/** Keys whose string value IAM does not treat as a one-element list. */
const SCALAR_KEYS = new Set(['Version', 'Effect']);

/**
 * A policy in a form where IAM-equivalent documents are equal: a lone statement or value becomes a
 * list, list order and key order do not matter, `Sid` (a label) is dropped.
 */
function canonical(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) {
    return value
      .map((item) => (typeof item === 'string' ? item : canonical(item)))
      .sort((a, b) => stableJson(a).localeCompare(stableJson(b)));
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      if (k === 'Sid') continue;
      const v = (value as Record<string, unknown>)[k];
      out[k] = k === 'Statement' && !Array.isArray(v) ? canonical([v]) : canonical(v, k);
    }
    return out;
  }
  if (typeof value === 'string' && !SCALAR_KEYS.has(key)) return [value];
  return value;
}

function stableJson(value: unknown): string {
  return JSON.stringify(value);
}

/** True when two policy documents grant the same thing (see `canonical`). */
export function samePolicy(a: unknown, b: unknown): boolean {
  return stableJson(canonical(a)) === stableJson(canonical(b));
}

async function getRole(iam: IAMClient, roleName: string): Promise<Role | undefined> {
  try {
    return (await iam.send(new GetRoleCommand({ RoleName: roleName }))).Role;
  } catch (err) {
    if (isErrorNamed(err, 'NoSuchEntityException')) return undefined;
    throw err;
  }
}

async function attachedPolicies(iam: IAMClient, roleName: string): Promise<string[]> {
  const arns: string[] = [];
  for await (const page of paginateListAttachedRolePolicies({ client: iam }, { RoleName: roleName })) {
    for (const policy of page.AttachedPolicies ?? []) if (policy.PolicyArn) arns.push(policy.PolicyArn);
  }
  return arns.sort();
}

/** A role as it is now, trust policy parsed and managed policies listed; undefined when missing. */
export async function readRole(
  iam: IAMClient,
  roleName: string,
): Promise<{ role: Role; trustPolicy: unknown; attached: string[] } | undefined> {
  const role = await getRole(iam, roleName);
  if (!role) return undefined;
  const trustPolicy = role.AssumeRolePolicyDocument ? parsePolicyDocument(role.AssumeRolePolicyDocument) : {};
  return { role, trustPolicy, attached: await attachedPolicies(iam, roleName) };
}

/** An inline policy of the role, parsed; undefined when it (or the role) does not exist. */
export async function readInlinePolicy(
  iam: IAMClient,
  roleName: string,
  policyName: string,
): Promise<unknown> {
  try {
    const { PolicyDocument } = await iam.send(
      new GetRolePolicyCommand({ RoleName: roleName, PolicyName: policyName }),
    );
    return PolicyDocument ? parsePolicyDocument(PolicyDocument) : undefined;
  } catch (err) {
    if (isErrorNamed(err, 'NoSuchEntityException')) return undefined;
    throw err;
  }
}

/**
 * An IAM write that may race another lab's execution converging the same shared role, or run just
 * after the role was created: both conditions pass with time, so they become the retryable errors
 * the state machines retry.
 */
async function iamWrite<T>(roleName: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (isErrorNamed(err, 'ConcurrentModificationException')) {
      throw new NotReadyYet(`${roleName} is being changed by another execution`, { cause: err });
    }
    if (isErrorNamed(err, 'NoSuchEntityException')) {
      throw new IamNotPropagatedYet(`${roleName} is not visible to IAM yet`, { cause: err });
    }
    throw err;
  }
}

export interface EnsuredRole {
  role: Role;
  trustPolicy: PolicyDocument;
  /** Whether this call changed anything (then a stale read-back means propagation, not a mismatch). */
  changed: boolean;
}

/** Creates the role or converges an existing one to `spec`. */
export async function ensureRole(iam: IAMClient, spec: RoleSpec): Promise<EnsuredRole> {
  const { roleName } = spec;
  let changed = false;
  let role = await getRole(iam, roleName);
  if (!role) {
    try {
      const created = await iam.send(
        new CreateRoleCommand({
          RoleName: roleName,
          AssumeRolePolicyDocument: JSON.stringify(spec.trustPolicy(undefined)),
          Description: spec.description,
          Tags: spec.tags,
          PermissionsBoundary: spec.permissionsBoundary,
        }),
      );
      role = created.Role!;
      changed = true;
    } catch (err) {
      // Another lab's execution created it between our read and our write.
      if (!isErrorNamed(err, 'EntityAlreadyExistsException')) throw err;
      role = await getRole(iam, roleName);
      if (!role) throw new IamNotPropagatedYet(`${roleName} exists but is not readable yet`, { cause: err });
    }
  }

  const current = role.AssumeRolePolicyDocument
    ? parsePolicyDocument(role.AssumeRolePolicyDocument)
    : undefined;
  const trustPolicy = spec.trustPolicy(current);
  if (!samePolicy(current, trustPolicy)) {
    await iamWrite(roleName, () =>
      iam.send(
        new UpdateAssumeRolePolicyCommand({
          RoleName: roleName,
          PolicyDocument: JSON.stringify(trustPolicy),
        }),
      ),
    );
    changed = true;
  }

  const attached = await attachedPolicies(iam, roleName);
  for (const policyArn of spec.managedPolicies) {
    if (attached.includes(policyArn)) continue;
    await iamWrite(roleName, () =>
      iam.send(new AttachRolePolicyCommand({ RoleName: roleName, PolicyArn: policyArn })),
    );
    changed = true;
  }
  // The seed attached AmazonEC2RoleforSSM to SSMLabRole; an account that ran the manual lab still
  // has it. It is deprecated and far broader than needed, so it is removed.
  for (const policyArn of attached) {
    if (!isSupersededPolicy(policyArn) || spec.managedPolicies.includes(policyArn)) continue;
    await iamWrite(roleName, () =>
      iam.send(new DetachRolePolicyCommand({ RoleName: roleName, PolicyArn: policyArn })),
    );
    changed = true;
  }
  for (const [policyName, document] of Object.entries(spec.inlinePolicies ?? {})) {
    if (samePolicy(await readInlinePolicy(iam, roleName, policyName), document)) continue;
    await iamWrite(roleName, () =>
      iam.send(
        new PutRolePolicyCommand({
          RoleName: roleName,
          PolicyName: policyName,
          PolicyDocument: JSON.stringify(document),
        }),
      ),
    );
    changed = true;
  }
  return { role, trustPolicy, changed };
}

/**
 * Reads the role back and checks trust policy and attachments are exactly what the lab needs.
 * A difference right after our own write is IAM's eventual consistency (retryable); otherwise it
 * is a real mismatch (someone else changed the shared role) and fails the step.
 */
export async function verifyRole(
  iam: IAMClient,
  spec: Pick<RoleSpec, 'roleName' | 'managedPolicies' | 'inlinePolicies' | 'permissionsBoundary'>,
  ensured: EnsuredRole,
): Promise<Role> {
  const { roleName } = spec;
  const role = await getRole(iam, roleName);
  // `stale` may be our own write not yet visible; `foreign` is something we never write.
  const stale: string[] = [];
  const foreign: string[] = [];
  if (!role) {
    stale.push('the role is not found');
  } else {
    const trust = role.AssumeRolePolicyDocument ? parsePolicyDocument(role.AssumeRolePolicyDocument) : {};
    if (!samePolicy(trust, ensured.trustPolicy)) {
      stale.push(`trust policy is ${JSON.stringify(trust)}, expected ${JSON.stringify(ensured.trustPolicy)}`);
    }
    const attached = await attachedPolicies(iam, roleName);
    const missing = spec.managedPolicies.filter((arn) => !attached.includes(arn));
    const extra = attached.filter((arn) => !spec.managedPolicies.includes(arn));
    if (missing.length > 0) stale.push(`missing managed policies ${missing.join(', ')}`);
    const superseded = extra.filter(isSupersededPolicy);
    const others = extra.filter((arn) => !isSupersededPolicy(arn));
    if (superseded.length > 0)
      stale.push(`superseded managed policies still attached ${superseded.join(', ')}`);
    if (others.length > 0) foreign.push(`unexpected managed policies attached ${others.join(', ')}`);
    for (const [policyName, document] of Object.entries(spec.inlinePolicies ?? {})) {
      if (!samePolicy(await readInlinePolicy(iam, roleName, policyName), document))
        stale.push(`inline policy ${policyName} is missing or differs`);
    }
    const boundary = role.PermissionsBoundary?.PermissionsBoundaryArn;
    if (spec.permissionsBoundary && boundary !== spec.permissionsBoundary)
      stale.push(`permissions boundary is ${boundary ?? 'none'}, expected ${spec.permissionsBoundary}`);
  }
  if (stale.length === 0 && foreign.length === 0) return role!;
  const message = `${roleName}: ${[...foreign, ...stale].join('; ')}`;
  if (foreign.length === 0 && ensured.changed) {
    throw new IamNotPropagatedYet(`${message} (just written; IAM has not caught up)`);
  }
  throw new LabStateMismatch(message);
}
