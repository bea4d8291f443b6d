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
  type Role,
} from '@aws-sdk/client-iam';
import { IamNotPropagatedYet, LabStateMismatch, ignoreErrors, isErrorNamed } from './errors.js';
import { ensureRole, verifyRole, type RoleSpec } from './iam-roles.js';
import type { Tag } from './tags.js';

/**
 * The roles session-lab gives one lab's hosts of their own (the bootstrap host's,
 * shared/bootstrap-role.ts; the Dev hosts', shared/dev-host-roles.ts): named after the lab,
 * tagged with it, each under a permissions boundary the stack deploys, so the task that creates
 * them may create and change them only with that boundary on (an IAM condition in
 * infra/permissions.ts). Created or converged when the lab needs them, removed with the lab by
 * name (delete-network).
 */
export interface LabRoleSpec extends RoleSpec {
  permissionsBoundary: string;
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
 * or changed since): first, since the task may put or attach a policy only on a role that holds
 * it. A missing role is created with it (ensureRole).
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

/**
 * Creates or converges a lab role to `spec` (boundary first, then trust, managed and inline
 * policies) and reads it back: IamNotPropagatedYet while IAM has not caught up with our own
 * writes, LabStateMismatch for what someone else changed.
 */
export async function ensureLabRole(iam: IAMClient, spec: LabRoleSpec): Promise<Role> {
  const boundaryPut = await ensureBoundary(iam, spec.roleName, spec.permissionsBoundary);
  const ensured = await ensureRole(iam, spec);
  return verifyRole(iam, spec, { ...ensured, changed: ensured.changed || boundaryPut });
}

/**
 * Creates or converges the instance profile named like the role, holding that role alone; the
 * profile's name. A profile holding another role is a mismatch (someone else's).
 */
export async function ensureLabInstanceProfile(iam: IAMClient, name: string, tags: Tag[]): Promise<string> {
  let profile = await getProfile(iam, name);
  if (!profile) {
    await ignoreErrors(
      () => iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: name, Tags: tags })),
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
 * Removes a lab role and (`withProfile`, for a role EC2 hosts use) the instance profile of the
 * same name, after the hosts using them are gone: the role out of the profile, the profile, the role's inline and managed policies, the
 * role. What is already gone counts as removed; the names removed (`instance-profile/<name>` only
 * when there was one, `role/<name>` always).
 */
export async function deleteLabRole(
  iam: IAMClient,
  name: string,
  { withProfile = true }: { withProfile?: boolean } = {},
): Promise<string[]> {
  const removed: string[] = [];
  const profile = withProfile ? await getProfile(iam, name) : undefined;
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
