import type { ContextEntry } from '@aws-sdk/client-iam';
import type { LabConfig } from '../shared/lab-config.js';

export type PolicyMode = LabConfig['policyMode'];
export type Access = 'allowed' | 'denied';

/** A session target as the lab intends it, before anything is read from AWS. */
export interface Target {
  role: string;
  /** `ec2` nodes are authorized against an EC2 instance ARN, `hybrid` ones against a managed-instance ARN. */
  kind: 'ec2' | 'hybrid';
  environment: string;
  nodeId: string;
  /** False for `otherLabNodes`: nodes of other labs. */
  ownLab: boolean;
}

/**
 * Who should reach what, written from the lab's intent rather than from the policy text, so a
 * wrong policy shows up as a mismatch:
 * - strict: only this lab's Dev nodes; Prod (EC2 and hybrid), the bootstrap host and other labs' nodes are denied;
 * - seed: the seed's policy scoped to the lab: this lab's Dev nodes and its Prod hybrid node (the
 *   seed's deny names only `instance/*`, the gap it teaches); not its Prod EC2 instance, the
 *   bootstrap host or other labs' nodes.
 */
export function expectedAccess(mode: PolicyMode, target: Target): Access {
  if (!target.ownLab) return 'denied';
  if (mode === 'strict') return target.environment === 'Dev' ? 'allowed' : 'denied';
  if (target.environment === 'Dev') return 'allowed';
  return target.kind === 'hybrid' && target.environment === 'Prod' ? 'allowed' : 'denied';
}

/** In seed mode, why a cell the strict policy would deny is reachable; undefined when it is not a gap. */
export function seedGap(mode: PolicyMode, target: Target, actual: Access | 'unknown'): string | undefined {
  if (mode !== 'seed' || actual !== 'allowed' || expectedAccess('strict', target) === 'allowed')
    return undefined;
  if (target.kind === 'hybrid' && target.environment === 'Prod') {
    return `seed gap: ${target.role} (${target.nodeId}) is Prod but reachable: the seed's deny names only EC2 instance ARNs, not managed-instance/*`;
  }
  // Seed mode reaches nothing else the strict policy denies (expectedAccess): a mismatch, not a gap.
  return undefined;
}

/** The ARN SimulatePrincipalPolicy and StartSession authorize a target against. */
export function targetArn(
  target: Pick<Target, 'kind' | 'nodeId'>,
  partition: string,
  region: string,
  account: string,
) {
  return target.kind === 'ec2'
    ? `arn:${partition}:ec2:${region}:${account}:instance/${target.nodeId}`
    : `arn:${partition}:ssm:${region}:${account}:managed-instance/${target.nodeId}`;
}

/**
 * The node's real tags as the condition keys a policy may test: the service key
 * `ssm:resourceTag/<key>` and the global `aws:ResourceTag/<key>`.
 */
export function tagContextEntries(tags: Record<string, string>): ContextEntry[] {
  return Object.entries(tags).flatMap(([key, value]) =>
    ['ssm:resourceTag', 'aws:ResourceTag'].map((prefix) => ({
      ContextKeyName: `${prefix}/${key}`,
      ContextKeyValues: [value],
      ContextKeyType: 'string' as const,
    })),
  );
}

/** SimulatePrincipalPolicy's decision as access. */
export const toAccess = (decision: string | undefined): Access =>
  decision === 'allowed' ? 'allowed' : 'denied';
