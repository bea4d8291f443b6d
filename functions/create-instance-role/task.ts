import {
  AddRoleToInstanceProfileCommand,
  CreateInstanceProfileCommand,
  GetInstanceProfileCommand,
  type InstanceProfile,
} from '@aws-sdk/client-iam';
import * as z from 'zod';
import { clientPartition } from '../shared/account.js';
import type { LabClients } from '../shared/clients.js';
import { IamNotPropagatedYet, LabStateMismatch, isErrorNamed } from '../shared/errors.js';
import {
  EC2_TRUST_POLICY,
  ensureRole,
  parsePolicyDocument,
  samePolicy,
  verifyRole,
  type RoleSpec,
} from '../shared/iam-roles.js';
import { HOST_GUARD_POLICY_NAME, hostGuardPolicy } from '../shared/host-guard.js';
import { SHARED_NAMES, managedPolicies } from '../shared/names.js';
import type { LabRegistry } from '../shared/registry/lab-registry.js';
import { sharedRoleMarks } from '../shared/registry/ready-marks.js';
import { singletonTaskInputSchema, useOrConverge } from '../shared/shared-resources.js';
import { sharedTags } from '../shared/tags.js';

export const inputSchema = singletonTaskInputSchema;
export type CreateInstanceRoleInput = z.input<typeof inputSchema>;

export interface CreateInstanceRoleOutput {
  instanceRoleName: string;
  instanceProfileName: string;
  instanceProfileArn: string;
}

/** The trust policy of the EC2 instance role. */
export { EC2_TRUST_POLICY };

/**
 * SSMLabRole: the seed's AmazonEC2RoleforSSM replaced by AmazonSSMManagedInstanceCore, in the
 * partition of the lab's Region, under the host guard (shared/host-guard.ts): a student
 * with root on a Dev EC2 host holds this role.
 */
export function instanceRoleSpec(partition: string): RoleSpec {
  return {
    roleName: SHARED_NAMES.instanceRole,
    description: 'session-lab: lets the lab EC2 instances be managed by Systems Manager',
    tags: sharedTags(),
    managedPolicies: [managedPolicies(partition).ssmCore],
    inlinePolicies: { [HOST_GUARD_POLICY_NAME]: hostGuardPolicy(partition) },
    trustPolicy: () => EC2_TRUST_POLICY,
  };
}

async function getInstanceProfile(
  clients: Pick<LabClients, 'iam'>,
  name: string,
): Promise<InstanceProfile | undefined> {
  try {
    return (await clients.iam.send(new GetInstanceProfileCommand({ InstanceProfileName: name })))
      .InstanceProfile;
  } catch (err) {
    if (isErrorNamed(err, 'NoSuchEntityException')) return undefined;
    throw err;
  }
}

/**
 * A profile holds at most one role. Ours must hold SSMLabRole; another role inside is someone
 * else's configuration, which we do not overwrite.
 */
function heldRole(profile: InstanceProfile): string | undefined {
  const names = (profile.Roles ?? []).map((role) => role.RoleName);
  const other = names.find((name) => name !== SHARED_NAMES.instanceRole);
  if (other) {
    throw new LabStateMismatch(
      `instance profile ${SHARED_NAMES.instanceProfile} holds role ${other}, expected ${SHARED_NAMES.instanceRole}`,
    );
  }
  return names[0];
}

function output(profile: InstanceProfile): CreateInstanceRoleOutput {
  return {
    instanceRoleName: SHARED_NAMES.instanceRole,
    instanceProfileName: SHARED_NAMES.instanceProfile,
    instanceProfileArn: profile.Arn!,
  };
}

/**
 * The profile as a converging lab leaves it, in one read: it holds SSMLabRole trusted by EC2 (the
 * profile gets its role only after the role is converged, so a profile holding it is complete).
 */
async function readyProfile(clients: Pick<LabClients, 'iam'>): Promise<CreateInstanceRoleOutput | undefined> {
  const profile = await getInstanceProfile(clients, SHARED_NAMES.instanceProfile);
  const role = profile?.Roles?.find((r) => r.RoleName === SHARED_NAMES.instanceRole);
  const trust = role?.AssumeRolePolicyDocument;
  if (!profile || !trust || !samePolicy(parsePolicyDocument(trust), EC2_TRUST_POLICY)) return undefined;
  return output(profile);
}

/**
 * Seed task 1 (steps 2-6), shared by every lab: the instance profile SSMLabProfile holding the role
 * SSMLabRole (trusted by ec2.amazonaws.com, AmazonSSMManagedInstanceCore). The shared roles' first
 * holder converges them and reads them back; the other labs check the profile is complete
 * (`useOrConverge`).
 */
export async function createInstanceRole(
  input: CreateInstanceRoleInput,
  clients: Pick<LabClients, 'iam'>,
  registry?: LabRegistry,
): Promise<CreateInstanceRoleOutput> {
  return useOrConverge(
    input,
    SHARED_NAMES.instanceProfile,
    () => readyProfile(clients),
    () => convergeInstanceRole(clients),
    sharedRoleMarks(registry?.marks, SHARED_NAMES.instanceProfile),
  );
}

/** Creates or converges the role and the profile, then reads them back and checks them. */
async function convergeInstanceRole(clients: Pick<LabClients, 'iam'>): Promise<CreateInstanceRoleOutput> {
  const { iam } = clients;
  const profileName = SHARED_NAMES.instanceProfile;
  const spec = instanceRoleSpec(await clientPartition(iam));
  const ensured = await ensureRole(iam, spec);

  let profile = await getInstanceProfile(clients, profileName);
  if (!profile) {
    try {
      await iam.send(
        new CreateInstanceProfileCommand({ InstanceProfileName: profileName, Tags: sharedTags() }),
      );
    } catch (err) {
      // Created meanwhile by another lab's execution: fine, it is the same shared profile.
      if (!isErrorNamed(err, 'EntityAlreadyExistsException')) throw err;
    }
    profile = await getInstanceProfile(clients, profileName);
    if (!profile) throw new IamNotPropagatedYet(`instance profile ${profileName} is not readable yet`);
  }

  if (!heldRole(profile)) {
    try {
      await iam.send(
        new AddRoleToInstanceProfileCommand({
          InstanceProfileName: profileName,
          RoleName: SHARED_NAMES.instanceRole,
        }),
      );
    } catch (err) {
      // A concurrent execution added a role first: AWS answers LimitExceeded (one role per profile),
      // the model says EntityAlreadyExists. Either way, read what is inside now.
      if (!isErrorNamed(err, 'LimitExceededException', 'EntityAlreadyExistsException')) {
        if (isErrorNamed(err, 'NoSuchEntityException')) {
          throw new IamNotPropagatedYet(`${profileName} or ${SHARED_NAMES.instanceRole} not visible yet`, {
            cause: err,
          });
        }
        throw err;
      }
    }
    profile = await getInstanceProfile(clients, profileName);
    if (!profile || heldRole(profile) !== SHARED_NAMES.instanceRole) {
      throw new IamNotPropagatedYet(`${profileName} does not show ${SHARED_NAMES.instanceRole} yet`);
    }
  }

  await verifyRole(iam, spec, ensured);
  return output(profile);
}
