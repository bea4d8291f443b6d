import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DescribeSecurityGroupsCommand,
  DescribeVpcsCommand,
  RevokeSecurityGroupIngressCommand,
} from '@aws-sdk/client-ec2';
import { createNetwork } from '../../../functions/create-network/task.js';
import { toTagRecord } from '../../../functions/shared/tags.js';
import { awsError, testLab, throttled } from '../../helpers/aws.js';
import { FakeEc2 } from '../../helpers/fake-ec2.js';

let ec2: FakeEc2;
beforeEach(() => {
  ec2 = new FakeEc2();
});

const run = (lab = testLab()) => createNetwork({ lab }, { ec2: ec2.client });
const writes = () =>
  ec2.mock
    .calls()
    .map((c) => (c.args[0] as object).constructor.name)
    .filter((name) => !name.startsWith('Describe'));

describe('createNetwork', () => {
  it('uses the default VPC and a subnet in a zone offering the instance type (not us-east-1e for t3)', async () => {
    const out = await run();
    expect(out).toMatchObject({ vpcId: 'vpc-0aaaaaaaaaaaaaaaa', subnetId: 'subnet-0a0000000000000' });
    // A bigger type offered in us-east-1e too still picks deterministically (zone order).
    ec2 = new FakeEc2();
    expect((await run(testLab({ instanceType: 'm5.large' }))).subnetId).toBe('subnet-0a0000000000000');
  });

  it('the bootstrap group has no ingress; the lab hosts accept SSH only from the bootstrap group', async () => {
    const out = await run();
    const bootstrap = ec2.group(out.bootstrapSecurityGroupId);
    const onPrem = ec2.group(out.onPremSecurityGroupId);
    expect(bootstrap).toMatchObject({
      GroupName: 'session-lab-demo-bootstrap',
      VpcId: 'vpc-0aaaaaaaaaaaaaaaa',
    });
    expect(bootstrap.IpPermissions).toEqual([]);
    expect(bootstrap.IpPermissionsEgress).toHaveLength(1);
    expect(onPrem.GroupName).toBe('session-lab-demo-onprem');
    expect(onPrem.IpPermissions).toEqual([
      expect.objectContaining({
        IpProtocol: 'tcp',
        FromPort: 22,
        ToPort: 22,
        IpRanges: [],
        UserIdGroupPairs: [expect.objectContaining({ GroupId: out.bootstrapSecurityGroupId })],
      }),
    ]);
    for (const group of [bootstrap, onPrem]) {
      expect(toTagRecord(group.Tags)).toMatchObject({ 'session-lab:lab-id': 'demo', Name: group.GroupName });
    }
    const authorized = ec2.mock.commandCalls(AuthorizeSecurityGroupIngressCommand)[0]!.args[0].input;
    expect(JSON.stringify(authorized)).not.toContain('0.0.0.0/0');
  });

  it('running twice converges: the groups are found by name and VPC, nothing is written again', async () => {
    const first = await run();
    const before = writes().length;
    await expect(run()).resolves.toEqual(first);
    expect(writes()).toHaveLength(before);
    expect(ec2.groups.size).toBe(2);
  });

  it('removes ingress someone opened (0.0.0.0/0 SSH, another port) and keeps the bootstrap rule', async () => {
    const first = await run();
    // EC2 lists one entry per protocol and port range, with every source inside it.
    ec2.group(first.onPremSecurityGroupId).IpPermissions![0]!.IpRanges!.push({ CidrIp: '0.0.0.0/0' });
    ec2.group(first.bootstrapSecurityGroupId).IpPermissions!.push({
      IpProtocol: 'tcp',
      FromPort: 3389,
      ToPort: 3389,
      IpRanges: [{ CidrIp: '203.0.113.0/24' }],
      UserIdGroupPairs: [],
    });
    await run();
    expect(ec2.group(first.bootstrapSecurityGroupId).IpPermissions).toEqual([]);
    const onPrem = ec2.group(first.onPremSecurityGroupId).IpPermissions!;
    expect(JSON.stringify(onPrem)).not.toContain('0.0.0.0/0');
    expect(onPrem[0]!.UserIdGroupPairs).toEqual([
      expect.objectContaining({ GroupId: first.bootstrapSecurityGroupId }),
    ]);
    expect(ec2.mock.commandCalls(RevokeSecurityGroupIngressCommand)).toHaveLength(2);
  });

  it("refuses to adopt a group of the lab's name that is not tagged as the lab's", async () => {
    const first = await run();
    ec2.group(first.onPremSecurityGroupId).Tags = [];
    await expect(run()).rejects.toMatchObject({
      name: 'LabStateMismatch',
      message: expect.stringMatching(/onprem/),
    });
    expect(ec2.mock.commandCalls(RevokeSecurityGroupIngressCommand)).toHaveLength(0);
  });

  it('InvalidPermission.Duplicate (rule added concurrently) counts as done', async () => {
    ec2.mock.on(AuthorizeSecurityGroupIngressCommand).rejects(awsError('InvalidPermission.Duplicate'));
    await expect(run()).resolves.toHaveProperty('onPremSecurityGroupId');
  });

  it('InvalidGroup.Duplicate (group created concurrently) adopts the existing group', async () => {
    const first = await run();
    // Our lookup misses it once (eventual consistency), then CreateSecurityGroup says Duplicate.
    const lookups = ec2.mock.on(DescribeSecurityGroupsCommand);
    let calls = 0;
    lookups.callsFake((input) => {
      calls += 1;
      const all = [...ec2.groups.values()].filter((g) =>
        input.Filters?.every((f: { Name: string; Values: string[] }) =>
          f.Values.includes(f.Name === 'group-name' ? g.GroupName! : g.VpcId!),
        ),
      );
      return { SecurityGroups: calls === 1 ? [] : all };
    });
    await expect(run()).resolves.toEqual(first);
    expect(ec2.mock.commandCalls(CreateSecurityGroupCommand)).toHaveLength(3);
  });

  it('a group not visible yet to AuthorizeSecurityGroupIngress is NotReadyYet', async () => {
    ec2.mock.on(AuthorizeSecurityGroupIngressCommand).rejects(awsError('InvalidGroup.NotFound'));
    await expect(run()).rejects.toMatchObject({ name: 'NotReadyYet' });
  });

  it('uses a given VPC and subnet after checking the subnet is in it', async () => {
    const out = await run(testLab({ vpcId: 'vpc-0bbbbbbbbbbbbbbbb', subnetId: 'subnet-0c0000000000000' }));
    expect(out).toMatchObject({ vpcId: 'vpc-0bbbbbbbbbbbbbbbb', subnetId: 'subnet-0c0000000000000' });
    expect(ec2.group(out.onPremSecurityGroupId).VpcId).toBe('vpc-0bbbbbbbbbbbbbbbb');
  });

  it('a given subnet alone decides the VPC', async () => {
    await expect(run(testLab({ subnetId: 'subnet-0c0000000000000' }))).resolves.toMatchObject({
      vpcId: 'vpc-0bbbbbbbbbbbbbbbb',
    });
  });

  it.each([
    [{ vpcId: 'vpc-0aaaaaaaaaaaaaaaa', subnetId: 'subnet-0c0000000000000' }, 'subnetId', /not in vpcId/],
    [{ subnetId: 'subnet-0ffffffffffffff' }, 'subnetId', /does not exist/],
    [{ vpcId: 'vpc-0fffffffffffffff' }, 'vpcId', /does not exist/],
    [{ instanceType: 'x9.nano' }, 'subnetId', /offering x9.nano/],
  ])('refuses %j naming %s, creating nothing', async (given, field, message) => {
    await expect(run(testLab(given))).rejects.toMatchObject({
      name: 'InvalidLabInput',
      field,
      message: expect.stringMatching(message),
    });
    expect(ec2.groups.size).toBe(0);
  });

  it('a Region without a default VPC asks for vpcId and subnetId', async () => {
    ec2.vpcs[0]!.IsDefault = false;
    await expect(run()).rejects.toMatchObject({ name: 'InvalidLabInput', field: 'vpcId' });
  });

  it('propagates throttling for the Step Functions retry', async () => {
    ec2.mock.on(DescribeVpcsCommand).rejects(throttled.ec2());
    await expect(run()).rejects.toMatchObject({ name: 'RequestLimitExceeded' });
  });
});
