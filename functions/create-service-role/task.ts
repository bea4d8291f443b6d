import type { Role } from '@aws-sdk/client-iam';
import * as z from 'zod';
import { callerAccount, clientRegion } from '../shared/account.js';
import type { LabClients } from '../shared/clients.js';
import {
  ensureRole,
  readRole,
  samePolicy,
  serviceTrustPolicy,
  verifyRole,
  type RoleSpec,
} from '../shared/iam-roles.js';
import { HOST_GUARD_POLICY_NAME, hostGuardPolicy } from '../shared/host-guard.js';
import { SHARED_NAMES, isSupersededPolicy, managedPolicies, partitionOf } from '../shared/names.js';
import type { LabRegistry } from '../shared/registry/lab-registry.js';
import { sharedRoleMarks } from '../shared/registry/ready-marks.js';
import { singletonTaskInputSchema, useOrConverge } from '../shared/shared-resources.js';
import { sharedTags } from '../shared/tags.js';

export const inputSchema = singletonTaskInputSchema;
export type CreateServiceRoleInput = z.input<typeof inputSchema>;

export interface CreateServiceRoleOutput {
  serviceRoleName: string;
  serviceRoleArn: string;
}

/**
 * Seed task 1 (steps 7-12), shared by every lab: SSMServiceRole, the role hybrid nodes registered
 * with an activation assume, trusted by ssm.amazonaws.com from this account only, with
 * AmazonSSMManagedInstanceCore under the host guard (shared/host-guard.ts: no lab parameter, no
 * secret, no logs but the session logging; CloudWatchAgentServerPolicy, which the seed attached, is
 * detached from a role of an earlier release). The shared roles' first holder
 * converges it (an existing role with another trust policy too), then reads attachments and trust
 * back as the seed's steps 11-12 do; the other labs check it is complete (`useOrConverge`).
 */
export async function createServiceRole(
  input: CreateServiceRoleInput,
  clients: Pick<LabClients, 'iam' | 'sts'>,
  registry?: LabRegistry,
): Promise<CreateServiceRoleOutput> {
  const spec = await serviceRoleSpec(clients);
  return useOrConverge(
    input,
    SHARED_NAMES.serviceRole,
    async () => {
      const found = await readRole(clients.iam, spec.roleName);
      const complete =
        found &&
        samePolicy(found.trustPolicy, spec.trustPolicy(found.trustPolicy)) &&
        spec.managedPolicies.every((arn) => found.attached.includes(arn)) &&
        !found.attached.some(isSupersededPolicy);
      return complete ? output(found.role) : undefined;
    },
    async () => {
      const ensured = await ensureRole(clients.iam, spec);
      return output(await verifyRole(clients.iam, spec, ensured));
    },
    sharedRoleMarks(registry?.marks, SHARED_NAMES.serviceRole),
  );
}

function output(role: Role): CreateServiceRoleOutput {
  return { serviceRoleName: SHARED_NAMES.serviceRole, serviceRoleArn: role.Arn! };
}

/** The role as this account and Region need it (its trust names both). */
async function serviceRoleSpec(clients: Pick<LabClients, 'sts'>): Promise<RoleSpec> {
  const [account, region] = await Promise.all([callerAccount(clients.sts), clientRegion(clients.sts)]);
  const policies = managedPolicies(partitionOf(region));
  return {
    roleName: SHARED_NAMES.serviceRole,
    description: 'session-lab: assumed by the lab hybrid (mi-) nodes registered with an SSM activation',
    tags: sharedTags(),
    managedPolicies: [policies.ssmCore],
    inlinePolicies: { [HOST_GUARD_POLICY_NAME]: hostGuardPolicy(partitionOf(region)) },
    trustPolicy: (current) => serviceTrustPolicy(current, account, region),
  };
}
