import {
  AddRoleToInstanceProfileCommand,
  CreateInstanceProfileCommand,
  DeleteInstanceProfileCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  DetachRolePolicyCommand,
  GetInstanceProfileCommand,
  GetRoleCommand,
  ListAttachedRolePoliciesCommand,
  ListRolePoliciesCommand,
  PutRolePermissionsBoundaryCommand,
  RemoveRoleFromInstanceProfileCommand,
  type IAMClient,
  type InstanceProfile,
} from '@aws-sdk/client-iam';
import type { STSClient } from '@aws-sdk/client-sts';
import { callerAccount } from './account.js';
import { IamNotPropagatedYet, LabStateMismatch, ignoreErrors, isErrorNamed } from './errors.js';
import { HOST_GUARD_POLICY_NAME, hostGuardPolicy } from './host-guard.js';
import { EC2_TRUST_POLICY, ensureRole, verifyRole, type RoleSpec } from './iam-roles.js';
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
 * which carries the lab id).
 */

export function bootstrapRoleSpec(labId: string, partition: string, accountId: string): RoleSpec {
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

async function getProfile(iam: IAMClient, name: string): Promise<InstanceProfile | undefined> {
  try {
    return (await iam.send(new GetInstanceProfileCommand({ InstanceProfileName: name }))).InstanceProfile;
  } catch (err) {
    if (isErrorNamed(err, 'NoSuchEntityException')) return undefined;
    throw err;
  }
}

/**
 * Puts the boundary on the role when it exists without it (made by a release before the boundary,
 * or changed since): first, since launch-instances may put or attach a policy only on a role that
 * holds it. A missing role is created with it (ensureRole).
 */
async function ensureBoundary(iam: IAMClient, roleName: string, boundary: string): Promise<boolean> {
  const role = await ignoreErrors(
    () => iam.send(new GetRoleCommand({ RoleName: roleName })),
    'NoSuchEntityException',
  );
  if (!role?.Role || role.Role.PermissionsBoundary?.PermissionsBoundaryArn === boundary) return false;
  try {
    await iam.send(
      new PutRolePermissionsBoundaryCommand({ RoleName: roleName, PermissionsBoundary: boundary }),
    );
  } catch (err) {
    if (isErrorNamed(err, 'NoSuchEntityException')) {
      throw new IamNotPropagatedYet(`${roleName} not visible to IAM yet`, { cause: err });
    }
    throw err;
  }
  return true;
}

/** Creates or converges the lab's bootstrap role and its instance profile; the profile's name. */
export async function ensureBootstrapProfile(
  { iam, sts }: { iam: IAMClient; sts: Pick<STSClient, 'send'> },
  labId: string,
): Promise<string> {
  const { partition, accountId } = await callerAccount(sts);
  const spec = bootstrapRoleSpec(labId, partition, accountId);
  const name = spec.roleName;
  const boundaryPut = await ensureBoundary(iam, name, spec.permissionsBoundary!);
  const ensured = await ensureRole(iam, spec);
  await verifyRole(iam, spec, { ...ensured, changed: ensured.changed || boundaryPut });

  let profile = await getProfile(iam, name);
  if (!profile) {
    await ignoreErrors(
      () => iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: name, Tags: labTags(labId) })),
      'EntityAlreadyExistsException',
    );
    profile = await getProfile(iam, name);
    if (!profile) throw new IamNotPropagatedYet(`instance profile ${name} is not readable yet`);
  }
  const held = (profile.Roles ?? []).map((role) => role.RoleName);
  const other = held.find((roleName) => roleName !== name);
  if (other) throw new LabStateMismatch(`instance profile ${name} holds role ${other}, expected ${name}`);
  if (held.length === 0) {
    try {
      await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: name, RoleName: name }));
    } catch (err) {
      if (isErrorNamed(err, 'NoSuchEntityException')) {
        throw new IamNotPropagatedYet(`${name} not visible to IAM yet`, { cause: err });
      }
      // A retry of this step added it first.
      if (!isErrorNamed(err, 'LimitExceededException', 'EntityAlreadyExistsException')) throw err;
    }
  }
  return name;
}

/**
 * Removes the lab's bootstrap profile and role (after its instances are terminated): the role out
 * of the profile, the profile, the role's inline and managed policies, the role. What is already
 * gone counts as removed; the names removed.
 */
export async function deleteBootstrapProfile(iam: IAMClient, labId: string): Promise<string[]> {
  const name = labNames(labId).bootstrapRole;
  const removed: string[] = [];
  const profile = await getProfile(iam, name);
  if (profile) {
    for (const role of profile.Roles ?? []) {
      await ignoreErrors(
        () =>
          iam.send(
            new RemoveRoleFromInstanceProfileCommand({ InstanceProfileName: name, RoleName: role.RoleName }),
          ),
        'NoSuchEntityException',
      );
    }
    await ignoreErrors(
      () => iam.send(new DeleteInstanceProfileCommand({ InstanceProfileName: name })),
      'NoSuchEntityException',
    );
    removed.push(`instance-profile/${name}`);
  }
  const inline = await ignoreErrors(
    () => iam.send(new ListRolePoliciesCommand({ RoleName: name })),
    'NoSuchEntityException',
  );
  if (!inline) return removed;
  for (const PolicyName of inline.PolicyNames ?? []) {
    await ignoreErrors(
      () => iam.send(new DeleteRolePolicyCommand({ RoleName: name, PolicyName })),
      'NoSuchEntityException',
    );
  }
  const attached = await ignoreErrors(
    () => iam.send(new ListAttachedRolePoliciesCommand({ RoleName: name })),
    'NoSuchEntityException',
  );
  for (const policy of attached?.AttachedPolicies ?? []) {
    await ignoreErrors(
      () => iam.send(new DetachRolePolicyCommand({ RoleName: name, PolicyArn: policy.PolicyArn })),
      'NoSuchEntityException',
    );
  }
  await ignoreErrors(() => iam.send(new DeleteRoleCommand({ RoleName: name })), 'NoSuchEntityException');
  removed.push(`role/${name}`);
  return removed;
}
