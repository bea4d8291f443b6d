import type { IAMClient } from '@aws-sdk/client-iam';
import { callerAccount, clientRegion } from './account.js';
import type { LabClients } from './clients.js';
import { HOST_GUARD_POLICY_NAME, hostGuardPolicy } from './host-guard.js';
import { EC2_TRUST_POLICY, serviceTrustPolicy } from './iam-roles.js';
import type { LabConfig } from './lab-config.js';
import { deleteLabRole, ensureLabInstanceProfile, ensureLabRole, type LabRoleSpec } from './lab-roles.js';
import { devHostBoundaryArn, labNames, managedPolicies } from './names.js';
import { labSessionLoggingPolicy, sessionLoggingPolicyName } from './session-logging.js';
import { labTags } from './tags.js';

/**
 * The Dev hosts' own roles, one pair per lab. A student has root on the lab's Dev hosts and so
 * holds their credentials; with the account-wide SSMLabRole / SSMServiceRole (whose session
 * logging grant covers the whole log group) root on one lab's Dev host could create and write
 * streams named after any other student's sessions. So the Dev hosts get roles of their lab:
 * - `SessionLabDevHost-<labId>`, role and instance profile, for DevEC2Instance (launch-instances);
 * - `SessionLabDevNode-<labId>`, the role DevOnPrem's activation names (create-activations),
 *   trusted by Systems Manager with the same confused-deputy conditions as SSMServiceRole.
 * Each holds AmazonSSMManagedInstanceCore under the host guard (shared/host-guard.ts), like the
 * shared roles, and a session logging policy for the lab's own streams only
 * (`labSessionLoggingPolicy`: the lab's group and bucket, as the lab's input names them, which are
 * the ones the Session Manager preferences use while the lab holds them). Their permissions
 * boundary, the stack's SessionLabDevHostBoundary (shared/dev-host-boundary.ts), caps whatever
 * they are given at the agent's calls and session logging. The Prod hosts keep the shared roles:
 * students have no shell there in strict mode, and operators' Prod sessions, named after whoever
 * starts them, need the group-wide grant. delete-network removes both roles with the lab.
 */

interface Scope {
  partition: string;
  region: string;
  accountId: string;
}

type Clients = Pick<LabClients, 'iam' | 'sts'>;

async function scopeOf(sts: Clients['sts']): Promise<Scope> {
  const [{ partition, accountId }, region] = await Promise.all([callerAccount(sts), clientRegion(sts)]);
  return { partition, region, accountId };
}

function devRoleSpec(
  lab: LabConfig,
  scope: Scope,
  roleName: string,
  description: string,
  trustPolicy: LabRoleSpec['trustPolicy'],
): LabRoleSpec {
  return {
    roleName,
    description,
    tags: labTags(lab.labId),
    managedPolicies: [managedPolicies(scope.partition).ssmCore],
    inlinePolicies: {
      [HOST_GUARD_POLICY_NAME]: hostGuardPolicy(scope.partition),
      [sessionLoggingPolicyName(scope.region)]: labSessionLoggingPolicy(lab, scope),
    },
    trustPolicy,
    permissionsBoundary: devHostBoundaryArn(scope.partition, scope.accountId),
  };
}

/** DevEC2Instance's role (its instance profile has the same name). */
export function devHostRoleSpec(lab: LabConfig, scope: Scope): LabRoleSpec {
  return devRoleSpec(
    lab,
    scope,
    labNames(lab.labId).devHostRole,
    `session-lab: the Dev EC2 host of lab ${lab.labId}`,
    () => EC2_TRUST_POLICY,
  );
}

/** The role of DevOnPrem's activation, assumed by Systems Manager for the registered node. */
export function devNodeRoleSpec(lab: LabConfig, scope: Scope): LabRoleSpec {
  return devRoleSpec(
    lab,
    scope,
    labNames(lab.labId).devNodeRole,
    `session-lab: the Dev hybrid node of lab ${lab.labId}, registered with its activation`,
    (current) => serviceTrustPolicy(current, scope, scope.region),
  );
}

/** Creates or converges DevEC2Instance's role and instance profile; the profile's name. */
export async function ensureDevHostProfile({ iam, sts }: Clients, lab: LabConfig): Promise<string> {
  const spec = devHostRoleSpec(lab, await scopeOf(sts));
  await ensureLabRole(iam, spec);
  return ensureLabInstanceProfile(iam, spec.roleName, labTags(lab.labId));
}

/** Creates or converges the role of DevOnPrem's activation; the role's name. */
export async function ensureDevNodeRole({ iam, sts }: Clients, lab: LabConfig): Promise<string> {
  const spec = devNodeRoleSpec(lab, await scopeOf(sts));
  await ensureLabRole(iam, spec);
  return spec.roleName;
}

/**
 * Removes both Dev roles and DevEC2Instance's profile (after the lab's instances are terminated
 * and its nodes deregistered); what is gone already counts as removed. The names removed.
 */
export async function deleteDevHostRoles(iam: IAMClient, labId: string): Promise<string[]> {
  const names = labNames(labId);
  return [
    ...(await deleteLabRole(iam, names.devHostRole)),
    ...(await deleteLabRole(iam, names.devNodeRole, { withProfile: false })),
  ];
}
