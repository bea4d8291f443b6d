import { DescribeInstancesCommand, EC2Client, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { terminateInstances } from '../../../functions/terminate-instances/task.js';
import { awsError, inputsOf, testClients } from '../../helpers/aws-mock.js';

const ec2 = mockClient(EC2Client);

/** Instances with a lab tag and a state; DescribeInstances honours the tag and state filters. */
function fakeEc2(instances: { id: string; labId: string; state: string }[]) {
  const all = instances.map((i) => ({ ...i }));
  ec2.on(DescribeInstancesCommand).callsFake(({ Filters }) => {
    const tag = Filters.find((f: { Name: string }) => f.Name === 'tag:session-lab:lab-id').Values;
    const states = Filters.find((f: { Name: string }) => f.Name === 'instance-state-name').Values;
    return {
      Reservations: [
        {
          Instances: all
            .filter((i) => tag.includes(i.labId) && states.includes(i.state))
            .map((i) => ({ InstanceId: i.id, State: { Name: i.state } })),
        },
      ],
    };
  });
  ec2.on(TerminateInstancesCommand).callsFake(({ InstanceIds }) => {
    for (const id of InstanceIds) {
      const instance = all.find((i) => i.id === id);
      if (!instance) throw awsError('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
    }
    for (const id of InstanceIds) all.find((i) => i.id === id)!.state = 'shutting-down';
    return {};
  });
  /** What AWS does between polls: shutting-down instances finish. */
  const settle = () => {
    for (const i of all) if (i.state === 'shutting-down') i.state = 'terminated';
  };
  return { all, settle };
}

beforeEach(() => ec2.reset());

describe('terminateInstances', () => {
  it('terminates the lab\u2019s live instances in one call, then polls until none is left', async () => {
    const world = fakeEc2([
      { id: 'i-0aaaaaaaaaaaaaaa1', labId: 'demo', state: 'running' },
      { id: 'i-0aaaaaaaaaaaaaaa2', labId: 'demo', state: 'stopped' },
      { id: 'i-0aaaaaaaaaaaaaaa3', labId: 'demo', state: 'terminated' },
      { id: 'i-0bbbbbbbbbbbbbbb1', labId: 'other', state: 'running' },
    ]);
    await expect(terminateInstances({ labId: 'demo' }, testClients())).resolves.toEqual({
      ready: false,
      pending: ['i-0aaaaaaaaaaaaaaa1', 'i-0aaaaaaaaaaaaaaa2'],
    });
    expect(inputsOf(ec2, TerminateInstancesCommand)).toEqual([
      { InstanceIds: ['i-0aaaaaaaaaaaaaaa1', 'i-0aaaaaaaaaaaaaaa2'] },
    ]);

    // Still shutting down: reported, not terminated again.
    await expect(terminateInstances({ labId: 'demo' }, testClients())).resolves.toMatchObject({
      ready: false,
    });
    expect(inputsOf(ec2, TerminateInstancesCommand)).toHaveLength(1);

    world.settle();
    await expect(terminateInstances({ labId: 'demo' }, testClients())).resolves.toEqual({
      ready: true,
      pending: [],
    });
    expect(world.all.find((i) => i.labId === 'other')!.state).toBe('running');
  });

  it('is ready at once when the lab has no instance (a second teardown)', async () => {
    fakeEc2([]);
    await expect(terminateInstances({ labId: 'demo' }, testClients())).resolves.toEqual({
      ready: true,
      pending: [],
    });
    expect(ec2.commandCalls(TerminateInstancesCommand)).toHaveLength(0);
  });

  it('falls back to one call each when an instance vanished between describe and terminate', async () => {
    fakeEc2([
      { id: 'i-0aaaaaaaaaaaaaaa1', labId: 'demo', state: 'running' },
      { id: 'i-0aaaaaaaaaaaaaaa2', labId: 'demo', state: 'running' },
    ]);
    ec2
      .on(TerminateInstancesCommand)
      .rejectsOnce(awsError('InvalidInstanceID.NotFound'))
      .rejectsOnce(awsError('InvalidInstanceID.NotFound'))
      .resolves({});
    await expect(terminateInstances({ labId: 'demo' }, testClients())).resolves.toMatchObject({
      ready: false,
    });
    expect(inputsOf(ec2, TerminateInstancesCommand).map((i) => i.InstanceIds)).toEqual([
      ['i-0aaaaaaaaaaaaaaa1', 'i-0aaaaaaaaaaaaaaa2'],
      ['i-0aaaaaaaaaaaaaaa1'],
      ['i-0aaaaaaaaaaaaaaa2'],
    ]);
  });

  it('propagates throttling (RequestLimitExceeded)', async () => {
    ec2.on(DescribeInstancesCommand).rejects(awsError('RequestLimitExceeded'));
    await expect(terminateInstances({ labId: 'demo' }, testClients())).rejects.toMatchObject({
      name: 'RequestLimitExceeded',
    });
  });
});
