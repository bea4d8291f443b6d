import { RunInstancesCommand, StopInstancesCommand } from '@aws-sdk/client-ec2';
import { PutRolePolicyCommand } from '@aws-sdk/client-iam';
import {
  AddTagsToResourceCommand,
  DeregisterManagedInstanceCommand,
  DescribeInstanceInformationCommand,
  ListTagsForResourceCommand,
  type DescribeInstanceInformationCommandInput,
  PutParameterCommand,
  type InstanceInformation,
} from '@aws-sdk/client-ssm';
import { useEmulator } from '../../helpers/emulator.js';
import {
  AMI,
  fleetClients,
  instanceProfile,
  launch,
  securityGroup,
  waitForPing,
} from '../../helpers/fleet.js';

describe('emulator: managed nodes', () => {
  // A 50 s boot is 500 ms here: long enough to see an instance before its agent checks in.
  const emulator = useEmulator({ time: { scale: 0.01, ec2BootSeconds: 50 } });
  const clients = () => fleetClients(emulator());
  let group: string;

  beforeAll(async () => {
    const { iam, ec2 } = clients();
    await instanceProfile(iam, 'SSMLabProfile', ['arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore']);
    await instanceProfile(iam, 'NoSsmProfile', ['arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy']);
    await instanceProfile(iam, 'InlineProfile', []);
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: 'InlineProfile',
        PolicyName: 'agent',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: ['ssm:UpdateInstanceInformation'], Resource: '*' }],
        }),
      }),
    );
    group = await securityGroup(ec2, 'nodes');
  });

  const describeAll = async (input: DescribeInstanceInformationCommandInput = {}) => {
    const { ssm } = clients();
    const items: InstanceInformation[] = [];
    let NextToken: string | undefined;
    do {
      const page = await ssm.send(new DescribeInstanceInformationCommand({ ...input, NextToken }));
      items.push(...(page.InstanceInformationList ?? []));
      NextToken = page.NextToken;
    } while (NextToken);
    return items;
  };

  it('brings an instance whose profile carries AmazonSSMManagedInstanceCore Online after its boot delay', async () => {
    const { ec2, ssm } = clients();
    const instance = await launch(ec2, {
      profile: 'SSMLabProfile',
      groups: [group],
      tags: { Name: 'DevEC2Instance', Environment: 'Dev' },
    });
    const id = instance.InstanceId!;
    expect((await describeAll()).map((i) => i.InstanceId)).not.toContain(id);
    await waitForPing(ssm, id);
    const [item] = await describeAll({ Filters: [{ Key: 'InstanceIds', Values: [id] }] });
    expect(item).toMatchObject({
      InstanceId: id,
      PingStatus: 'Online',
      ResourceType: 'EC2Instance',
      IamRole: 'SSMLabProfile',
      IPAddress: instance.PrivateIpAddress,
      ComputerName: instance.PrivateDnsName,
      PlatformType: 'Linux',
      PlatformName: 'Amazon Linux',
      SourceType: 'AWS::EC2::Instance',
    });
    expect(item!.AgentVersion).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(item!.Name).toBeUndefined();
    expect(item!.LastPingDateTime).toBeInstanceOf(Date);
  });

  it('also accepts an inline policy allowing ssm:UpdateInstanceInformation', async () => {
    const { ec2, ssm } = clients();
    const instance = await launch(ec2, { profile: 'InlineProfile', groups: [group] });
    await waitForPing(ssm, instance.InstanceId!);
  });

  it('does not list hosts without a profile, with a profile that lacks SSM, or stopped', async () => {
    const { ec2, ssm } = clients();
    const plain = await launch(ec2, { groups: [group], tags: { Name: 'DevOnPrem' } });
    const noSsm = await launch(ec2, { profile: 'NoSsmProfile', groups: [group] });
    const stopped = await launch(ec2, { profile: 'SSMLabProfile', groups: [group] });
    await waitForPing(ssm, stopped.InstanceId!);
    await ec2.send(new StopInstancesCommand({ InstanceIds: [stopped.InstanceId!] }));
    await new Promise((resolve) => setTimeout(resolve, emulator().clock.realMs(60)));
    const ids = (await describeAll()).map((i) => i.InstanceId);
    expect(ids).not.toContain(plain.InstanceId);
    expect(ids).not.toContain(noSsm.InstanceId);
    expect(ids).not.toContain(stopped.InstanceId);
  });

  it('filters by ping status, resource type and tags, and pages 5..50 at a time', async () => {
    const { ec2, ssm } = clients();
    const { Instances } = await ec2.send(
      new RunInstancesCommand({
        ImageId: AMI,
        MinCount: 5,
        MaxCount: 5,
        IamInstanceProfile: { Name: 'SSMLabProfile' },
        SecurityGroupIds: [group],
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Environment', Value: 'Prod' }] }],
      }),
    );
    for (const instance of Instances!) await waitForPing(ssm, instance.InstanceId!);
    const online = await describeAll({ Filters: [{ Key: 'PingStatus', Values: ['Online'] }], MaxResults: 5 });
    expect(online.length).toBeGreaterThanOrEqual(7);
    const firstPage = await ssm.send(new DescribeInstanceInformationCommand({ MaxResults: 5 }));
    expect(firstPage.InstanceInformationList).toHaveLength(5);
    expect(firstPage.NextToken).toBeDefined();
    const prod = await describeAll({ Filters: [{ Key: 'tag:Environment', Values: ['Prod'] }] });
    expect(prod.map((i) => i.InstanceId).sort()).toEqual(Instances!.map((i) => i.InstanceId).sort());
    const tagged = await describeAll({ Filters: [{ Key: 'tag-key', Values: ['Environment'] }] });
    expect(tagged.length).toBe(6);
    expect(await describeAll({ Filters: [{ Key: 'ResourceType', Values: ['ManagedInstance'] }] })).toEqual(
      [],
    );
    expect((await describeAll({ Filters: [{ Key: 'ResourceType', Values: ['EC2Instance'] }] })).length).toBe(
      online.length,
    );
  });

  it('answers the documented errors for bad filters, page sizes and tokens', async () => {
    const { ssm } = clients();
    const attempts: [DescribeInstanceInformationCommandInput, string][] = [
      [
        {
          Filters: [
            { Key: 'tag:Environment', Values: ['Dev'] },
            { Key: 'PingStatus', Values: ['Online'] },
          ],
        },
        'InvalidFilterKey',
      ],
      [{ Filters: [{ Key: 'Colour', Values: ['blue'] }] }, 'InvalidFilterKey'],
      [{ Filters: [{ Key: 'PingStatus', Values: ['Sleeping'] }] }, 'InvalidInstanceInformationFilterValue'],
      [{ MaxResults: 4 }, 'ValidationException'],
      [{ MaxResults: 51 }, 'ValidationException'],
      [{ NextToken: 'bogus' }, 'InvalidNextToken'],
    ];
    for (const [input, name] of attempts) {
      await expect(ssm.send(new DescribeInstanceInformationCommand(input))).rejects.toMatchObject({ name });
    }
  });

  it('deregisters only mi- ids and tags only registered ManagedInstance nodes', async () => {
    const { ssm } = clients();
    await expect(
      ssm.send(new DeregisterManagedInstanceCommand({ InstanceId: 'i-0123456789abcdef0' })),
    ).rejects.toMatchObject({ name: 'ValidationException' });
    await expect(
      ssm.send(new DeregisterManagedInstanceCommand({ InstanceId: 'mi-0123456789abcdef0' })),
    ).rejects.toMatchObject({ name: 'InvalidInstanceId' });
    await expect(
      ssm.send(
        new AddTagsToResourceCommand({
          ResourceType: 'ManagedInstance',
          ResourceId: 'mi-0123456789abcdef0',
          Tags: [{ Key: 'Environment', Value: 'Dev' }],
        }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidResourceId' });
  });

  it('passes tags of other resource types through to moto', async () => {
    const { ssm } = clients();
    await ssm.send(new PutParameterCommand({ Name: '/lab/tagged', Type: 'String', Value: 'v' }));
    await ssm.send(
      new AddTagsToResourceCommand({
        ResourceType: 'Parameter',
        ResourceId: '/lab/tagged',
        Tags: [{ Key: 'session-lab:lab-id', Value: 'demo' }],
      }),
    );
    const { TagList } = await ssm.send(
      new ListTagsForResourceCommand({ ResourceType: 'Parameter', ResourceId: '/lab/tagged' }),
    );
    expect(TagList).toEqual([{ Key: 'session-lab:lab-id', Value: 'demo' }]);
  });
});
