import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { DescribeInstanceInformationCommand } from '@aws-sdk/client-ssm';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { waitForInstances } from '../../../functions/wait-for-instances/task.js';
import { awsError, testLab, throttled } from '../../helpers/aws.js';
import { FakeSsm, node } from '../../helpers/fake-ssm.js';
import { INSTANCES } from '../../helpers/lab-fixtures.js';

let ssm: FakeSsm;
let ec2: EC2Client;
let ec2Mock: AwsClientStub<EC2Client>;
const states = new Map<string, string>();

beforeEach(() => {
  ssm = new FakeSsm();
  ec2 = new EC2Client({ region: 'us-east-1' });
  ec2Mock = mockClient(ec2);
  states.clear();
  for (const i of INSTANCES) states.set(i.instanceId, 'running');
  ec2Mock.on(DescribeInstancesCommand).callsFake((input: { InstanceIds: string[] }) => ({
    Reservations: [
      {
        Instances: input.InstanceIds.map((id) => ({
          InstanceId: id,
          State: { Name: states.get(id) },
        })),
      },
    ],
  }));
});

const run = () => waitForInstances({ lab: testLab(), instances: INSTANCES }, { ec2, ssm: ssm.client });
const allOnline = () => {
  for (const i of INSTANCES) if (i.kind !== 'onprem') ssm.nodes.set(i.instanceId, node(i.instanceId));
};

describe('waitForInstances', () => {
  it('is ready when every host runs and the profile hosts are Online (on-prem hosts need no agent yet)', async () => {
    allOnline();
    await expect(run()).resolves.toEqual({ ready: true, pending: [] });
    const filter = ssm.mock.commandCalls(DescribeInstanceInformationCommand)[0]!.args[0].input.Filters;
    expect(filter).toEqual([
      { Key: 'InstanceIds', Values: ['i-0a00000000000000a', 'i-0b00000000000000b', 'i-0e00000000000000e'] },
    ]);
  });

  it('reports hosts still pending and profile hosts not Online yet, by role', async () => {
    states.set('i-0d00000000000000d', 'pending');
    ssm.nodes.set('i-0a00000000000000a', node('i-0a00000000000000a'));
    ssm.nodes.set('i-0b00000000000000b', node('i-0b00000000000000b', { PingStatus: 'ConnectionLost' }));
    await expect(run()).resolves.toEqual({
      ready: false,
      pending: ['DevEC2Instance', 'DevOnPrem', 'Bootstrap'],
    });
  });

  it('follows every page of DescribeInstanceInformation', async () => {
    allOnline();
    await expect(run()).resolves.toMatchObject({ ready: true });
    expect(ssm.mock.commandCalls(DescribeInstanceInformationCommand)).toHaveLength(2);
  });

  it('ids EC2 does not show yet (just launched) are pending, not an error', async () => {
    ec2Mock.on(DescribeInstancesCommand).rejects(awsError('InvalidInstanceID.NotFound'));
    await expect(run()).resolves.toEqual({ ready: false, pending: INSTANCES.map((i) => i.role) });
  });

  it('ids SSM has never seen (InvalidInstanceId) mean not Online yet', async () => {
    ssm.mock.on(DescribeInstanceInformationCommand).rejects(awsError('InvalidInstanceId'));
    await expect(run()).resolves.toEqual({
      ready: false,
      pending: ['ProdEC2Instance', 'DevEC2Instance', 'Bootstrap'],
    });
  });

  it.each(['stopped', 'terminated', 'shutting-down', 'stopping'])(
    'a %s host fails the step naming it',
    async (state) => {
      allOnline();
      states.set('i-0c00000000000000c', state);
      await expect(run()).rejects.toMatchObject({
        name: 'LabStepFailed',
        message: expect.stringContaining(`ProdOnPrem (i-0c00000000000000c) is ${state}`),
      });
    },
  );

  it('asking twice answers the same (a poll has no side effects)', async () => {
    allOnline();
    expect(await run()).toEqual(await run());
  });

  it('propagates throttling for the Step Functions retry', async () => {
    ec2Mock.on(DescribeInstancesCommand).rejects(throttled.ec2());
    await expect(run()).rejects.toMatchObject({ name: 'RequestLimitExceeded' });
  });
});
