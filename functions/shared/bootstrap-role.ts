import type { IAMClient } from '@aws-sdk/client-iam';
import type { STSClient } from '@aws-sdk/client-sts';
import { callerAccount } from './account.js';
import { HOST_GUARD_POLICY_NAME, hostGuardPolicy } from './host-guard.js';
import { EC2_TRUST_POLICY } from './iam-roles.js';
import { deleteLabRole, ensureLabInstanceProfile, ensureLabRole, type LabRoleSpec } from './lab-roles.js';
import { bootstrapBoundaryArn, labNames, managedPolicies } from './names.js';
import { labTags } from './tags.js';

/**
 * The bootstrap host's own identity: one role and instance profile per lab,
 * `SessionLabBootstrap-<labId>`, tagged with the lab. The host runs the registration script over
 * Run Command and reads its lab's SSH key and activation codes from Parameter Store by name; the
 * lab hosts (whose root shells students hold) share SSMLabRole, which the host guard keeps out of
 * /session-lab. The bootstrap role holds AmazonSSMManagedInstanceCore (to be a managed node) under
 * the same guard in its own-lab form: parameter reads only under /session-lab/<labId>/, no secret,
 * no logs. Its permissions boundary, the stack's SessionLabBootstrapBoundary
 * (shared/bootstrap-boundary.ts), caps whatever its policies grant at that, whoever writes them:
 * launch-instances may create the role, put its inline policy, attach a policy or put a boundary
 * only with that boundary on the role (an IAM condition), and may not remove it. launch-instances
 * converges it before launching the host (a role of an earlier release without the boundary gets
 * it put first); delete-network removes it after the lab's instances are terminated (found by name,
 * which carries the lab id). The creation and removal are every lab role's (shared/lab-roles.ts).
 */
export function bootstrapRoleSpec(labId: string, partition: string, accountId: string): LabRoleSpec {
  return {
    roleName: labNames(labId).bootstrapRole,
    description: `session-lab: the bootstrap host of lab ${labId}, which registers its on-premises hosts`,
    tags: labTags(labId),
    managedPolicies: [managedPolicies(partition).ssmCore],
    inlinePolicies: { [HOST_GUARD_POLICY_NAME]: hostGuardPolicy(partition, labId) },
    trustPolicy: () => EC2_TRUST_POLICY,
    permissionsBoundary: bootstrapBoundaryArn(partition, accountId),
  };
}

/** Creates or converges the lab's bootstrap role and its instance profile; the profile's name. */
export async function ensureBootstrapProfile(
  { iam, sts }: { iam: IAMClient; sts: Pick<STSClient, 'send'> },
  labId: string,
): Promise<string> {
  const { partition, accountId } = await callerAccount(sts);
  const spec = bootstrapRoleSpec(labId, partition, accountId);
  await ensureLabRole(iam, spec);
  return ensureLabInstanceProfile(iam, spec.roleName, labTags(labId));
}

/**
 * Removes the lab's bootstrap profile and role (after its instances are terminated): the role out
 * of the profile, the profile, the role's inline and managed policies, the role. What is already
 * gone counts as removed; the names removed.
 */
export function deleteBootstrapProfile(iam: IAMClient, labId: string): Promise<string[]> {
  return deleteLabRole(iam, labNames(labId).bootstrapRole);
}
