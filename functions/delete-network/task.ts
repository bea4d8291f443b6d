import {
  DeleteKeyPairCommand,
  DeleteSecurityGroupCommand,
  DescribeKeyPairsCommand,
  DescribeSecurityGroupsCommand,
  RevokeSecurityGroupIngressCommand,
  type EC2Client,
  type IpPermission,
  type SecurityGroup,
} from '@aws-sdk/client-ec2';
import { paginateGetParametersByPath } from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { deleteBootstrapProfile } from '../shared/bootstrap-role.js';
import type { LabClients } from '../shared/clients.js';
import { deleteDevHostRoles } from '../shared/dev-host-roles.js';
import { NotReadyYet, ignoreErrors, isErrorNamed } from '../shared/errors.js';
import { labIdSchema, labNames } from '../shared/names.js';
import { deleteParameter } from '../shared/secrets.js';
import { TAG_LAB_ID } from '../shared/tags.js';

export const inputSchema = z.object({ labId: labIdSchema });
export type Input = z.output<typeof inputSchema>;

export interface Output {
  deletedSecurityGroups: string[];
  deletedKeyPairs: string[];
  deletedParameters: string[];
  /** The bootstrap host's role and instance profile (`role/<name>`, `instance-profile/<name>`). */
  deletedBootstrapIdentity: string[];
  /** The Dev hosts' own roles and DevEC2Instance's instance profile, in the same form. */
  deletedDevHostIdentities: string[];
}

type Clients = Pick<LabClients, 'ec2' | 'ssm' | 'iam'>;

/**
 * Teardown step 5, after the instances are terminated: the key pair (by name and by tag) with its
 * private-key parameter, the bootstrap host's and the Dev hosts' own roles and instance profiles (by name), then the lab's security groups (by tag). Rules that reference the other
 * lab group are revoked first, since a referenced group cannot be deleted; DependencyViolation
 * while terminated instances' network interfaces linger is NotReadyYet
 * (docs/aws-behaviours.md#security-groups-after-termination), retried by the state machine. Everything already gone counts as deleted.
 */
export async function deleteNetwork({ labId }: Input, { ec2, ssm, iam }: Clients): Promise<Output> {
  const deletedKeyPairs = await deleteKeyPairs(ec2, labId);
  const deletedParameters = await deleteKeyParameters(ssm, labId);
  const deletedBootstrapIdentity = await deleteBootstrapProfile(iam, labId);
  const deletedDevHostIdentities = await deleteDevHostRoles(iam, labId);

  const groups = await labSecurityGroups(ec2, labId);
  const groupIds = new Set(groups.map((g) => g.GroupId!));
  for (const group of groups) {
    const references = referencesTo(group.IpPermissions, groupIds);
    if (references.length === 0) continue;
    await ignoreErrors(
      () =>
        ec2.send(
          new RevokeSecurityGroupIngressCommand({ GroupId: group.GroupId, IpPermissions: references }),
        ),
      'InvalidPermission.NotFound',
      'InvalidGroup.NotFound',
    );
  }

  const deletedSecurityGroups: string[] = [];
  const inUse: string[] = [];
  for (const GroupId of groupIds) {
    try {
      await ec2.send(new DeleteSecurityGroupCommand({ GroupId }));
      deletedSecurityGroups.push(GroupId);
    } catch (err) {
      if (isErrorNamed(err, 'InvalidGroup.NotFound')) deletedSecurityGroups.push(GroupId);
      else if (isErrorNamed(err, 'DependencyViolation')) inUse.push(GroupId);
      else throw err;
    }
  }
  if (inUse.length > 0) {
    throw new NotReadyYet(
      `security groups still in use (network interfaces of terminated instances): ${inUse.join(', ')}`,
    );
  }
  return {
    deletedSecurityGroups,
    deletedKeyPairs,
    deletedParameters,
    deletedBootstrapIdentity,
    deletedDevHostIdentities,
  };
}

async function labSecurityGroups(ec2: EC2Client, labId: string): Promise<SecurityGroup[]> {
  const out = await ec2.send(
    new DescribeSecurityGroupsCommand({ Filters: [{ Name: `tag:${TAG_LAB_ID}`, Values: [labId] }] }),
  );
  return out.SecurityGroups ?? [];
}

/** The parts of `permissions` that name one of `groupIds` as their source, as Revoke takes them. */
export function referencesTo(permissions: IpPermission[] | undefined, groupIds: Set<string>): IpPermission[] {
  return (permissions ?? []).flatMap((permission) => {
    const pairs = (permission.UserIdGroupPairs ?? []).filter(
      (pair) => pair.GroupId && groupIds.has(pair.GroupId),
    );
    if (pairs.length === 0) return [];
    return [
      {
        IpProtocol: permission.IpProtocol,
        FromPort: permission.FromPort,
        ToPort: permission.ToPort,
        UserIdGroupPairs: pairs.map(({ GroupId }) => ({ GroupId })),
      },
    ];
  });
}

/** The key pair by its lab name and any other key pair tagged with the lab. */
async function deleteKeyPairs(ec2: EC2Client, labId: string): Promise<string[]> {
  const tagged = await ec2.send(
    new DescribeKeyPairsCommand({ Filters: [{ Name: `tag:${TAG_LAB_ID}`, Values: [labId] }] }),
  );
  const byName = await ignoreErrors(
    () => ec2.send(new DescribeKeyPairsCommand({ KeyNames: [labNames(labId).keyPair] })),
    'InvalidKeyPair.NotFound',
  );
  const names = new Set([...(tagged.KeyPairs ?? []), ...(byName?.KeyPairs ?? [])].map((k) => k.KeyName!));
  for (const KeyName of names) {
    await ignoreErrors(() => ec2.send(new DeleteKeyPairCommand({ KeyName })), 'InvalidKeyPair.NotFound');
  }
  return [...names];
}

/** The private key's parameter and anything else under the lab's key-pair path. */
async function deleteKeyParameters(ssm: LabClients['ssm'], labId: string): Promise<string[]> {
  const names = labNames(labId);
  const found: string[] = [];
  const pages = paginateGetParametersByPath(
    { client: ssm },
    { Path: `${names.parameterPath}/key-pair`, Recursive: true },
  );
  for await (const page of pages) for (const p of page.Parameters ?? []) if (p.Name) found.push(p.Name);
  for (const name of found) await deleteParameter(ssm, name);
  return found;
}
