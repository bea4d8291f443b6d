import { randomBytes } from 'node:crypto';
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateKeyPairCommand,
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  DeleteKeyPairCommand,
  DescribeInstancesCommand,
  DescribeInstanceTypeOfferingsCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
  RevokeSecurityGroupIngressCommand,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  TerminateInstancesCommand,
  type Filter,
  type Instance,
  type IpPermission,
  type SecurityGroup,
  type Subnet,
  type Tag,
  type TagSpecification,
  type Vpc,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { awsError } from './aws.js';

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

/** Tags of `kind` from a request's TagSpecifications. */
function specTags(specs: TagSpecification[] | undefined, kind: string): Tag[] {
  return specs?.find((spec) => spec.ResourceType === kind)?.Tags ?? [];
}

/** EC2's Filter semantics for the filters the tasks use: every filter must match one of its values. */
function matches(filters: Filter[] | undefined, fields: (name: string) => string | undefined): boolean {
  return (filters ?? []).every((filter) => filter.Values?.includes(fields(filter.Name!) ?? '\u0000'));
}

function tagValue(tags: Tag[] | undefined, key: string): string | undefined {
  return tags?.find((tag) => tag.Key === key)?.Value;
}

/** Does `have` (a group's rules) contain every source of `rule`? */
function sameRule(a: IpPermission, b: IpPermission): boolean {
  return a.IpProtocol === b.IpProtocol && a.FromPort === b.FromPort && a.ToPort === b.ToPort;
}

export interface FakeKeyPair {
  keyMaterial: string;
  tags: Tag[];
}

export interface FakeInstance extends Instance {
  /** Every request parameter, as RunInstances received it. */
  request: RunInstancesCommandInput;
  volumeTags: Tag[];
}

/**
 * A small in-memory EC2 behind aws-sdk-client-mock: a default VPC with subnets in three zones
 * (t3.micro not offered in one), key pairs, security groups with ingress rules, and instances
 * with ClientToken idempotency (switch `honourClientToken` off to behave like moto). Errors carry
 * EC2's raw codes as `name`, as the SDK reports them.
 */
export class FakeEc2 {
  readonly client = new EC2Client({ region: 'us-east-1' });
  readonly mock = mockClient(this.client);
  readonly vpcs: Vpc[] = [
    { VpcId: 'vpc-0aaaaaaaaaaaaaaaa', IsDefault: true, CidrBlock: '172.31.0.0/16' },
    { VpcId: 'vpc-0bbbbbbbbbbbbbbbb', IsDefault: false, CidrBlock: '10.0.0.0/16' },
  ];
  readonly subnets: Subnet[] = [
    {
      SubnetId: 'subnet-0e0000000000000',
      VpcId: 'vpc-0aaaaaaaaaaaaaaaa',
      AvailabilityZone: 'us-east-1e',
      DefaultForAz: true,
      MapPublicIpOnLaunch: true,
      State: 'available',
    },
    {
      SubnetId: 'subnet-0b0000000000000',
      VpcId: 'vpc-0aaaaaaaaaaaaaaaa',
      AvailabilityZone: 'us-east-1b',
      DefaultForAz: true,
      MapPublicIpOnLaunch: true,
      State: 'available',
    },
    {
      SubnetId: 'subnet-0a0000000000000',
      VpcId: 'vpc-0aaaaaaaaaaaaaaaa',
      AvailabilityZone: 'us-east-1a',
      DefaultForAz: true,
      MapPublicIpOnLaunch: true,
      State: 'available',
    },
    {
      SubnetId: 'subnet-0c0000000000000',
      VpcId: 'vpc-0bbbbbbbbbbbbbbbb',
      AvailabilityZone: 'us-east-1a',
      DefaultForAz: false,
      MapPublicIpOnLaunch: false,
      State: 'available',
    },
  ];
  /** The zones offering each instance type. */
  readonly offerings = new Map<string, string[]>([
    ['t3.micro', ['us-east-1a', 'us-east-1b', 'us-east-1c']],
    ['m5.large', ['us-east-1a', 'us-east-1b', 'us-east-1c', 'us-east-1e']],
  ]);
  readonly keyPairs = new Map<string, FakeKeyPair>();
  readonly groups = new Map<string, SecurityGroup>();
  readonly instances = new Map<string, FakeInstance>();
  readonly tokens = new Map<string, string>();
  /** AWS returns the original instance for a repeated ClientToken; moto launches another. */
  honourClientToken = true;
  private ip = 10;
  private clock = Date.parse('2026-11-23T10:00:00Z');

  constructor() {
    const m = this.mock;
    m.on(CreateKeyPairCommand).callsFake((input) => {
      if (this.keyPairs.has(input.KeyName)) {
        throw awsError('InvalidKeyPair.Duplicate', `The keypair '${input.KeyName}' already exists.`);
      }
      const keyMaterial = `-----BEGIN RSA PRIVATE KEY-----\n${hex(48)}\n-----END RSA PRIVATE KEY-----`;
      this.keyPairs.set(input.KeyName, { keyMaterial, tags: specTags(input.TagSpecifications, 'key-pair') });
      return {
        KeyName: input.KeyName,
        KeyMaterial: keyMaterial,
        KeyPairId: `key-${hex(8)}`,
        KeyFingerprint: hex(20),
      };
    });
    // Like AWS, deleting a missing key pair succeeds.
    m.on(DeleteKeyPairCommand).callsFake((input) => {
      this.keyPairs.delete(input.KeyName!);
      return { Return: true };
    });
    m.on(DescribeVpcsCommand).callsFake((input) => {
      if (input.VpcIds?.some((id: string) => !this.vpcs.some((vpc) => vpc.VpcId === id))) {
        throw awsError('InvalidVpcID.NotFound', `The vpc ID '${input.VpcIds[0]}' does not exist`);
      }
      return {
        Vpcs: this.vpcs.filter(
          (vpc) =>
            (!input.VpcIds || input.VpcIds.includes(vpc.VpcId)) &&
            matches(input.Filters, (name) => (name === 'isDefault' ? String(vpc.IsDefault) : undefined)),
        ),
      };
    });
    m.on(DescribeSubnetsCommand).callsFake((input) => {
      if (input.SubnetIds?.some((id: string) => !this.subnets.some((subnet) => subnet.SubnetId === id))) {
        throw awsError('InvalidSubnetID.NotFound', `The subnet ID '${input.SubnetIds[0]}' does not exist`);
      }
      return {
        Subnets: this.subnets.filter(
          (subnet) =>
            (!input.SubnetIds || input.SubnetIds.includes(subnet.SubnetId)) &&
            matches(input.Filters, (name) => (name === 'vpc-id' ? subnet.VpcId : undefined)),
        ),
      };
    });
    m.on(DescribeInstanceTypeOfferingsCommand).callsFake((input) => {
      const types = input.Filters?.find((f: Filter) => f.Name === 'instance-type')?.Values ?? [];
      return {
        InstanceTypeOfferings: types.flatMap((type: string) =>
          (this.offerings.get(type) ?? []).map((zone) => ({
            InstanceType: type,
            Location: zone,
            LocationType: 'availability-zone',
          })),
        ),
      };
    });
    m.on(CreateSecurityGroupCommand).callsFake((input) => {
      const duplicate = [...this.groups.values()].some(
        (g) => g.GroupName === input.GroupName && g.VpcId === input.VpcId,
      );
      if (duplicate)
        throw awsError('InvalidGroup.Duplicate', `The security group '${input.GroupName}' already exists`);
      const id = `sg-${hex(8)}`;
      this.groups.set(id, {
        GroupId: id,
        GroupName: input.GroupName,
        Description: input.Description,
        VpcId: input.VpcId,
        Tags: specTags(input.TagSpecifications, 'security-group'),
        IpPermissions: [],
        IpPermissionsEgress: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
      });
      return { GroupId: id };
    });
    m.on(DescribeSecurityGroupsCommand).callsFake((input) => {
      if (input.GroupIds?.some((id: string) => !this.groups.has(id))) {
        throw awsError('InvalidGroup.NotFound', `The security group '${input.GroupIds[0]}' does not exist`);
      }
      return {
        SecurityGroups: [...this.groups.values()]
          .filter((g) => !input.GroupIds || input.GroupIds.includes(g.GroupId))
          .filter((g) =>
            matches(input.Filters, (name) => ({ 'group-name': g.GroupName, 'vpc-id': g.VpcId })[name]),
          )
          .map((g) => structuredClone(g)),
      };
    });
    m.on(AuthorizeSecurityGroupIngressCommand).callsFake((input) => {
      const group = this.group(input.GroupId);
      for (const rule of input.IpPermissions as IpPermission[]) {
        for (const pair of rule.UserIdGroupPairs ?? []) this.group(pair.GroupId!);
        const existing = group.IpPermissions!.find((p) => sameRule(p, rule));
        const dup =
          existing &&
          ((rule.UserIdGroupPairs ?? []).some((pair) =>
            existing.UserIdGroupPairs?.some((e) => e.GroupId === pair.GroupId),
          ) ||
            (rule.IpRanges ?? []).some((r) => existing.IpRanges?.some((e) => e.CidrIp === r.CidrIp)));
        if (dup) throw awsError('InvalidPermission.Duplicate', 'the specified rule already exists');
        if (existing) {
          existing.UserIdGroupPairs = [
            ...(existing.UserIdGroupPairs ?? []),
            ...(rule.UserIdGroupPairs ?? []),
          ];
          existing.IpRanges = [...(existing.IpRanges ?? []), ...(rule.IpRanges ?? [])];
        } else {
          group.IpPermissions!.push(structuredClone({ IpRanges: [], UserIdGroupPairs: [], ...rule }));
        }
      }
      return { Return: true };
    });
    m.on(RevokeSecurityGroupIngressCommand).callsFake((input) => {
      const group = this.group(input.GroupId);
      for (const rule of input.IpPermissions as IpPermission[]) {
        const existing = group.IpPermissions!.find((p) => sameRule(p, rule));
        const pairs = (rule.UserIdGroupPairs ?? []).map((p) => p.GroupId);
        const cidrs = (rule.IpRanges ?? []).map((r) => r.CidrIp);
        const present =
          existing &&
          pairs.every((id) => existing.UserIdGroupPairs?.some((e) => e.GroupId === id)) &&
          cidrs.every((cidr) => existing.IpRanges?.some((e) => e.CidrIp === cidr));
        if (!present)
          throw awsError(
            'InvalidPermission.NotFound',
            'The specified rule does not exist in this security group.',
          );
        existing.UserIdGroupPairs = (existing.UserIdGroupPairs ?? []).filter(
          (e) => !pairs.includes(e.GroupId),
        );
        existing.IpRanges = (existing.IpRanges ?? []).filter((e) => !cidrs.includes(e.CidrIp));
        if (!existing.UserIdGroupPairs.length && !existing.IpRanges.length) {
          group.IpPermissions = group.IpPermissions!.filter((p) => p !== existing);
        }
      }
      return { Return: true };
    });
    m.on(CreateTagsCommand).callsFake((input) => {
      for (const id of input.Resources as string[]) {
        const target = this.groups.get(id) ?? this.instances.get(id);
        if (!target) throw awsError('InvalidID', `The ID '${id}' is not valid`);
        const tags = (target.Tags ?? []).filter((t) => !input.Tags.some((n: Tag) => n.Key === t.Key));
        target.Tags = [...tags, ...input.Tags];
      }
      return {};
    });
    m.on(RunInstancesCommand).callsFake((input) => this.runInstances(input));
    m.on(DescribeInstancesCommand).callsFake((input) => {
      if (input.InstanceIds?.some((id: string) => !this.instances.has(id))) {
        throw awsError(
          'InvalidInstanceID.NotFound',
          `The instance ID '${input.InstanceIds[0]}' does not exist`,
        );
      }
      const found = [...this.instances.values()]
        .filter((i) => !input.InstanceIds || input.InstanceIds.includes(i.InstanceId))
        .filter((i) =>
          matches(input.Filters, (name) =>
            name === 'instance-state-name'
              ? i.State!.Name
              : name.startsWith('tag:')
                ? tagValue(i.Tags, name.slice(4))
                : undefined,
          ),
        );
      // One reservation per instance, one page per two reservations: pagination is exercised.
      const start = Number(input.NextToken ?? 0);
      return {
        Reservations: found
          .slice(start, start + 2)
          .map((i) => ({ Instances: [structuredClone(this.view(i))] })),
        NextToken: start + 2 < found.length ? String(start + 2) : undefined,
      };
    });
    m.on(TerminateInstancesCommand).callsFake((input) => {
      return {
        TerminatingInstances: (input.InstanceIds as string[]).map((id) => {
          const instance = this.instances.get(id);
          if (!instance)
            throw awsError('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
          const previous = instance.State!;
          if (previous.Name !== 'terminated') instance.State = { Name: 'shutting-down', Code: 32 };
          return { InstanceId: id, PreviousState: previous, CurrentState: instance.State };
        }),
      };
    });
  }

  group(id: string): SecurityGroup {
    const group = this.groups.get(id);
    if (!group) throw awsError('InvalidGroup.NotFound', `The security group '${id}' does not exist`);
    return group;
  }

  /** Moves every instance (or the given ones) to a state. */
  setState(name: 'running' | 'stopped' | 'terminated' | 'shutting-down' | 'pending', ids?: string[]): void {
    for (const instance of this.instances.values()) {
      if (!ids || ids.includes(instance.InstanceId!)) instance.State = { Name: name };
    }
  }

  /** The instance whose Name tag is `name` (and not terminated). */
  byName(name: string): FakeInstance | undefined {
    return [...this.instances.values()].find(
      (i) =>
        tagValue(i.Tags, 'Name') === name &&
        i.State?.Name !== 'terminated' &&
        i.State?.Name !== 'shutting-down',
    );
  }

  private view(instance: FakeInstance): Instance {
    const { request: _request, volumeTags: _volumeTags, ...rest } = instance;
    return rest;
  }

  /** RunInstances as the fake answers it (a test that stubs RunInstances for some inputs can defer to it). */
  runInstances(input: RunInstancesCommandInput) {
    if (this.honourClientToken && input.ClientToken && this.tokens.has(input.ClientToken)) {
      const original = this.instances.get(this.tokens.get(input.ClientToken)!)!;
      if (original.request.ImageId !== input.ImageId) {
        throw awsError(
          'IdempotentParameterMismatch',
          'The client token you have provided is associated with a resource that is already deleted or has different parameters.',
        );
      }
      return { Instances: [structuredClone(this.view(original))] };
    }
    const id = `i-${hex(8)}`;
    const instance: FakeInstance = {
      InstanceId: id,
      ImageId: input.ImageId,
      InstanceType: input.InstanceType,
      State: { Name: 'pending', Code: 0 },
      PrivateIpAddress: `172.31.1.${this.ip++}`,
      SubnetId: input.SubnetId,
      KeyName: input.KeyName,
      IamInstanceProfile: input.IamInstanceProfile?.Name
        ? { Arn: `arn:aws:iam::123456789012:instance-profile/${input.IamInstanceProfile.Name}`, Id: 'AIPA' }
        : undefined,
      SecurityGroups: (input.SecurityGroupIds ?? []).map((gid: string) => ({ GroupId: gid })),
      MetadataOptions: input.MetadataOptions,
      LaunchTime: new Date((this.clock += 1000)),
      ClientToken: input.ClientToken,
      Tags: specTags(input.TagSpecifications, 'instance'),
      volumeTags: specTags(input.TagSpecifications, 'volume'),
      request: structuredClone(input),
    };
    this.instances.set(id, instance);
    if (input.ClientToken) this.tokens.set(input.ClientToken, id);
    return { Instances: [structuredClone(this.view(instance))] };
  }
}
