import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  paginateDescribeInstanceTypeOfferings,
  paginateDescribeSubnets,
  type SecurityGroup,
  type Subnet,
} from '@aws-sdk/client-ec2';
import * as z from 'zod';
import type { LabClients } from '../shared/clients.js';
import {
  InvalidLabInput,
  LabStateMismatch,
  NotReadyYet,
  ignoreErrors,
  isErrorNamed,
} from '../shared/errors.js';
import { labConfigSchema, type LabConfig } from '../shared/lab-config.js';
import type { LabNetwork } from '../shared/lab-state.js';
import { labNames } from '../shared/names.js';
import { revokeIngress, sshFromGroup, unexpectedIngress } from '../shared/security-groups.js';
import { TAG_LAB_ID, labTags, toTagRecord } from '../shared/tags.js';

export const inputSchema = z.object({ lab: labConfigSchema }).strict();
export type CreateNetworkInput = { lab: LabConfig };
export type CreateNetworkOutput = LabNetwork;

type Ec2 = Pick<LabClients, 'ec2'>;

async function describeSubnet(clients: Ec2, subnetId: string): Promise<Subnet> {
  const found = await ignoreErrors(
    () => clients.ec2.send(new DescribeSubnetsCommand({ SubnetIds: [subnetId] })),
    'InvalidSubnetID.NotFound',
  );
  const subnet = found?.Subnets?.[0];
  if (!subnet) throw new InvalidLabInput('subnetId', `${subnetId} does not exist in this Region`);
  return subnet;
}

async function resolveVpc(lab: LabConfig, clients: Ec2): Promise<string> {
  if (lab.vpcId) {
    const found = await ignoreErrors(
      () => clients.ec2.send(new DescribeVpcsCommand({ VpcIds: [lab.vpcId!] })),
      'InvalidVpcID.NotFound',
    );
    if (!found?.Vpcs?.length)
      throw new InvalidLabInput('vpcId', `${lab.vpcId} does not exist in this Region`);
    return lab.vpcId;
  }
  const defaults = await clients.ec2.send(
    new DescribeVpcsCommand({ Filters: [{ Name: 'isDefault', Values: ['true'] }] }),
  );
  const vpcId = defaults.Vpcs?.[0]?.VpcId;
  if (!vpcId) {
    throw new InvalidLabInput('vpcId', 'this Region has no default VPC: give vpcId and subnetId');
  }
  return vpcId;
}

/**
 * A subnet of the VPC in an Availability Zone that offers the lab's instance type (t3.micro is
 * missing from some zones, such as us-east-1e). Subnets that give public addresses come first: the
 * hosts need outbound HTTPS to the Systems Manager endpoints and a default VPC has no NAT. The
 * order is deterministic, so a re-run picks the same subnet.
 */
async function chooseSubnet(lab: LabConfig, vpcId: string, clients: Ec2): Promise<string> {
  const subnets: Subnet[] = [];
  for await (const page of paginateDescribeSubnets(
    { client: clients.ec2 },
    { Filters: [{ Name: 'vpc-id', Values: [vpcId] }] },
  )) {
    subnets.push(...(page.Subnets ?? []));
  }
  const zones = new Set<string>();
  for await (const page of paginateDescribeInstanceTypeOfferings(
    { client: clients.ec2 },
    {
      LocationType: 'availability-zone',
      Filters: [{ Name: 'instance-type', Values: [lab.instanceType] }],
    },
  )) {
    for (const offering of page.InstanceTypeOfferings ?? [])
      if (offering.Location) zones.add(offering.Location);
  }
  const rank = (subnet: Subnet) =>
    `${subnet.MapPublicIpOnLaunch ? 0 : 1}${subnet.DefaultForAz ? 0 : 1} ${subnet.AvailabilityZone} ${subnet.SubnetId}`;
  const usable = subnets
    .filter((subnet) => (subnet.State ?? 'available') === 'available')
    .filter((subnet) => zones.has(subnet.AvailabilityZone ?? ''))
    .sort((a, b) => rank(a).localeCompare(rank(b)));
  if (!usable[0]) {
    throw new InvalidLabInput(
      'subnetId',
      `no subnet of ${vpcId} is in an Availability Zone offering ${lab.instanceType}: give subnetId or another instanceType`,
    );
  }
  return usable[0].SubnetId!;
}

async function resolveNetwork(lab: LabConfig, clients: Ec2): Promise<{ vpcId: string; subnetId: string }> {
  if (lab.subnetId) {
    const subnet = await describeSubnet(clients, lab.subnetId);
    if (lab.vpcId && subnet.VpcId !== lab.vpcId) {
      throw new InvalidLabInput(
        'subnetId',
        `${lab.subnetId} is in ${subnet.VpcId}, not in vpcId ${lab.vpcId}`,
      );
    }
    return { vpcId: subnet.VpcId!, subnetId: lab.subnetId };
  }
  const vpcId = await resolveVpc(lab, clients);
  return { vpcId, subnetId: await chooseSubnet(lab, vpcId, clients) };
}

async function findGroup(clients: Ec2, name: string, vpcId: string): Promise<SecurityGroup | undefined> {
  const found = await clients.ec2.send(
    new DescribeSecurityGroupsCommand({
      Filters: [
        { Name: 'group-name', Values: [name] },
        { Name: 'vpc-id', Values: [vpcId] },
      ],
    }),
  );
  return found.SecurityGroups?.[0];
}

/** The group by name in the VPC, created (tagged, default egress only) when missing. */
async function ensureGroup(
  clients: Ec2,
  lab: LabConfig,
  vpcId: string,
  name: string,
  description: string,
): Promise<SecurityGroup> {
  const tags = labTags(lab.labId, { Name: name });
  const existing = await findGroup(clients, name, vpcId);
  if (existing) {
    // We tag at creation, atomically: a group of this name without the lab's tag is not ours, and
    // adopting it would change someone else's rules (and hide it from teardown, which goes by tag).
    if (toTagRecord(existing.Tags)[TAG_LAB_ID] !== lab.labId) {
      throw new LabStateMismatch(
        `security group ${name} (${existing.GroupId}) in ${vpcId} is not tagged ${TAG_LAB_ID}=${lab.labId}; not adopting it`,
      );
    }
    return existing;
  }
  try {
    const created = await clients.ec2.send(
      new CreateSecurityGroupCommand({
        GroupName: name,
        Description: description,
        VpcId: vpcId,
        TagSpecifications: [{ ResourceType: 'security-group', Tags: tags }],
      }),
    );
    // A new group has the default allow-all egress rule and no ingress.
    return { GroupId: created.GroupId, GroupName: name, VpcId: vpcId, IpPermissions: [] };
  } catch (err) {
    if (!isErrorNamed(err, 'InvalidGroup.Duplicate')) throw err;
    const raced = await findGroup(clients, name, vpcId);
    if (!raced) throw new NotReadyYet(`security group ${name} exists but is not visible yet`, { cause: err });
    return raced;
  }
}

/**
 * Seed steps 3.4 and 3.10, without the seed's open SSH: a bootstrap group with no ingress (its host
 * is reached through Session Manager), and a group for the lab hosts that accepts SSH only from
 * members of the bootstrap group, never from an address range. Any other ingress found on either
 * group is revoked. Both keep the default egress, which the agents need for the SSM endpoints.
 */
export async function createNetwork(input: CreateNetworkInput, clients: Ec2): Promise<CreateNetworkOutput> {
  const { lab } = input;
  const names = labNames(lab.labId);
  const { vpcId, subnetId } = await resolveNetwork(lab, clients);

  const bootstrap = await ensureGroup(
    clients,
    lab,
    vpcId,
    names.bootstrapSecurityGroup,
    `session-lab ${lab.labId}: bootstrap host, no inbound`,
  );
  const onPrem = await ensureGroup(
    clients,
    lab,
    vpcId,
    names.onPremSecurityGroup,
    `session-lab ${lab.labId}: lab hosts, SSH only from the bootstrap group`,
  );
  const bootstrapGroupId = bootstrap.GroupId!;
  const onPremGroupId = onPrem.GroupId!;

  await revokeIngress(clients.ec2, bootstrapGroupId, unexpectedIngress(bootstrap.IpPermissions));
  await revokeIngress(clients.ec2, onPremGroupId, unexpectedIngress(onPrem.IpPermissions, bootstrapGroupId));
  const hasSsh = (onPrem.IpPermissions ?? []).some(
    (permission) =>
      permission.IpProtocol === 'tcp' &&
      permission.FromPort === 22 &&
      permission.ToPort === 22 &&
      permission.UserIdGroupPairs?.some((pair) => pair.GroupId === bootstrapGroupId),
  );
  if (!hasSsh) await authorizeSsh(clients, onPremGroupId, bootstrapGroupId);

  return {
    vpcId,
    subnetId,
    bootstrapSecurityGroupId: bootstrapGroupId,
    onPremSecurityGroupId: onPremGroupId,
  };
}

async function authorizeSsh(clients: Ec2, onPremGroupId: string, bootstrapGroupId: string): Promise<void> {
  try {
    await clients.ec2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: onPremGroupId,
        IpPermissions: [sshFromGroup(bootstrapGroupId)],
      }),
    );
  } catch (err) {
    if (isErrorNamed(err, 'InvalidGroup.NotFound')) {
      // A group created a moment ago may not be visible to the next call yet.
      throw new NotReadyYet('a security group just created is not visible yet', { cause: err });
    }
    // InvalidPermission.Duplicate: the rule is already there, which is what we want.
    if (!isErrorNamed(err, 'InvalidPermission.Duplicate')) throw err;
  }
}
