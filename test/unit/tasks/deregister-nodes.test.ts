import {
  DeregisterManagedInstanceCommand,
  DescribeInstanceInformationCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { deregisterNodes } from '../../../functions/deregister-nodes/task.js';
import { awsError, inputsOf, testClients } from '../../helpers/aws-mock.js';

const ssm = mockClient(SSMClient);

/** Managed nodes with their lab tag; DescribeInstanceInformation honours the tag filter. */
function fakeNodes(nodes: { InstanceId: string; labId: string }[]) {
  const registered = [...nodes];
  ssm.on(DescribeInstanceInformationCommand).callsFake(({ Filters }) => {
    expect(Filters).toEqual([{ Key: 'tag:session-lab:lab-id', Values: ['demo'] }]);
    return {
      InstanceInformationList: registered
        .filter((n) => n.labId === Filters[0].Values[0])
        .map((n) => ({ InstanceId: n.InstanceId, PingStatus: 'Online' })),
    };
  });
  ssm.on(DeregisterManagedInstanceCommand).callsFake(({ InstanceId }) => {
    const i = registered.findIndex((n) => n.InstanceId === InstanceId);
    if (i < 0) throw awsError('InvalidInstanceId');
    registered.splice(i, 1);
    return {};
  });
  return registered;
}

beforeEach(() => ssm.reset());

describe('deregisterNodes', () => {
  it('deregisters the lab\u2019s mi- nodes only (not its EC2 nodes, not other labs\u2019)', async () => {
    const left = fakeNodes([
      { InstanceId: 'mi-0aaaaaaaaaaaaaaa1', labId: 'demo' },
      { InstanceId: 'mi-0aaaaaaaaaaaaaaa2', labId: 'demo' },
      { InstanceId: 'i-0aaaaaaaaaaaaaaa3', labId: 'demo' },
      { InstanceId: 'mi-0bbbbbbbbbbbbbbb1', labId: 'other' },
    ]);
    await expect(deregisterNodes({ labId: 'demo' }, testClients())).resolves.toEqual({
      deregistered: ['mi-0aaaaaaaaaaaaaaa1', 'mi-0aaaaaaaaaaaaaaa2'],
    });
    expect(left.map((n) => n.InstanceId)).toEqual(['i-0aaaaaaaaaaaaaaa3', 'mi-0bbbbbbbbbbbbbbb1']);
  });

  it('treats InvalidInstanceId (deregistered meanwhile, still listed) as done', async () => {
    fakeNodes([{ InstanceId: 'mi-0aaaaaaaaaaaaaaa1', labId: 'demo' }]);
    ssm.on(DeregisterManagedInstanceCommand).rejects(awsError('InvalidInstanceId'));
    await expect(deregisterNodes({ labId: 'demo' }, testClients())).resolves.toEqual({
      deregistered: ['mi-0aaaaaaaaaaaaaaa1'],
    });
  });

  it('is a no-op the second time', async () => {
    fakeNodes([{ InstanceId: 'mi-0aaaaaaaaaaaaaaa1', labId: 'demo' }]);
    await deregisterNodes({ labId: 'demo' }, testClients());
    await expect(deregisterNodes({ labId: 'demo' }, testClients())).resolves.toEqual({ deregistered: [] });
    expect(inputsOf(ssm, DeregisterManagedInstanceCommand)).toHaveLength(1);
  });

  it('propagates throttling and other errors', async () => {
    fakeNodes([{ InstanceId: 'mi-0aaaaaaaaaaaaaaa1', labId: 'demo' }]);
    ssm.on(DeregisterManagedInstanceCommand).rejects(awsError('ThrottlingException'));
    await expect(deregisterNodes({ labId: 'demo' }, testClients())).rejects.toMatchObject({
      name: 'ThrottlingException',
    });
  });
});
