import { CreateAccessKeyCommand, GetRoleCommand } from '@aws-sdk/client-iam';
import { DescribeLogGroupsCommand } from '@aws-sdk/client-cloudwatch-logs';
import {
  DescribeSessionsCommand,
  GetDocumentCommand,
  SSMClient,
  StartSessionCommand,
} from '@aws-sdk/client-ssm';
import { deleteActivations } from '../../../functions/delete-activations/task.js';
import { deleteNetwork } from '../../../functions/delete-network/task.js';
import { deleteWorkshopUser } from '../../../functions/delete-workshop-user/task.js';
import { deregisterNodes } from '../../../functions/deregister-nodes/task.js';
import { readActivationTier } from '../../../functions/shared/activation-tier.js';
import { labInventory, inventoryCount } from '../../../functions/shared/lab-inventory.js';
import { terminateInstances } from '../../../functions/terminate-instances/task.js';
import { terminateSessions } from '../../../functions/terminate-sessions/task.js';
import { emulatorClientConfig, useEmulator } from '../../helpers/emulator.js';
import { buildLab, polling, retrying } from '../../helpers/lab-builder.js';

/**
 * The teardown tasks against the emulator, on a lab built by the provisioning tasks, each given
 * only the lab id (as from a separate execution): everything the lab owns is gone afterwards, a
 * second teardown does nothing, and the shared resources stay.
 */
describe('teardown tasks against the emulator', () => {
  // The stack first: the bootstrap and Dev host roles the tasks create are bounded by its policies.
  const emulator = useEmulator({ time: { scale: 0.01 }, deployStack: true });

  it('removes everything the lab owns, converges when run again, and keeps the shared resources', async () => {
    const built = await buildLab({ labId: 'gone' });
    const { clients, lab } = built;
    const dev = built.instances.find((i) => i.role === 'DevEC2Instance')!.instanceId;
    const devHybrid = built.nodes.find((n) => n.environment === 'Dev')!.managedInstanceId;
    const prodHybrid = built.nodes.find((n) => n.environment === 'Prod')!.managedInstanceId;
    const untouched = await labInventory(clients, 'other-lab');

    // The workshop user, signed in with its own key, under the strict policy: Dev nodes reachable,
    // the Prod hybrid node denied (the seed's gap, closed).
    const key = await clients.iam.send(new CreateAccessKeyCommand({ UserName: built.user.userName }));
    const userSsm = new SSMClient({
      ...emulatorClientConfig(emulator()),
      credentials: {
        accessKeyId: key.AccessKey!.AccessKeyId!,
        secretAccessKey: key.AccessKey!.SecretAccessKey!,
      },
    });
    const onDev = await userSsm.send(new StartSessionCommand({ Target: dev }));
    const onDevHybrid = await userSsm.send(new StartSessionCommand({ Target: devHybrid }));
    await expect(userSsm.send(new StartSessionCommand({ Target: prodHybrid }))).rejects.toMatchObject({
      name: 'AccessDeniedException',
    });
    const adminSession = await clients.ssm.send(new StartSessionCommand({ Target: dev }));

    const input = { labId: lab.labId };
    const sessions = await terminateSessions(input, clients);
    expect(sessions.terminated.sort()).toEqual([onDev.SessionId, onDevHybrid.SessionId].sort());
    const { Sessions: active = [] } = await clients.ssm.send(
      new DescribeSessionsCommand({ State: 'Active' }),
    );
    // Only the lab user's sessions: the administrator's is left alone.
    expect(active.map((s) => s.SessionId)).toEqual([adminSession.SessionId]);

    await expect(deregisterNodes(input, clients)).resolves.toEqual({
      deregistered: expect.arrayContaining([devHybrid, prodHybrid]),
    });
    const activations = await deleteActivations(input, clients);
    expect(activations.deletedActivations).toHaveLength(2);
    expect(activations.deletedParameters.sort()).toEqual([
      '/session-lab/gone/activation/Dev/code',
      '/session-lab/gone/activation/Prod/code',
    ]);
    const terminated = await polling(
      () => terminateInstances(input, clients),
      'the lab instances to terminate',
    );
    expect(terminated).toEqual({ ready: true, pending: [] });
    const network = await retrying(() => deleteNetwork(input, clients));
    expect(network.deletedSecurityGroups).toHaveLength(2);
    expect(network.deletedKeyPairs).toEqual(['MyKeyPair-gone']);
    expect(network.deletedBootstrapIdentity).toEqual([
      'instance-profile/SessionLabBootstrap-gone',
      'role/SessionLabBootstrap-gone',
    ]);
    expect(network.deletedDevHostIdentities).toEqual([
      'instance-profile/SessionLabDevHost-gone',
      'role/SessionLabDevHost-gone',
      'role/SessionLabDevNode-gone',
    ]);
    const user = await deleteWorkshopUser(input, clients);
    expect(user.removed).toEqual([
      'user MyWorkshopUser-gone',
      `policy ${built.user.policyArn}`,
      'secret session-lab/gone/MyWorkshopUser-password',
    ]);

    const left = await labInventory(clients, lab.labId);
    expect(left).toEqual({
      instances: [],
      securityGroups: [],
      keyPairs: [],
      parameters: [],
      activations: [],
      managedNodes: [],
      users: [],
      policies: [],
      secrets: [],
    });
    expect(inventoryCount(left)).toBe(0);

    // A second teardown, as after a crash or from another execution: nothing to do, no error.
    await expect(terminateSessions(input, clients)).resolves.toEqual({ terminated: [] });
    await expect(deregisterNodes(input, clients)).resolves.toEqual({ deregistered: [] });
    await expect(deleteActivations(input, clients)).resolves.toEqual({
      deletedActivations: [],
      deletedParameters: [],
    });
    await expect(terminateInstances(input, clients)).resolves.toEqual({ ready: true, pending: [] });
    await expect(deleteNetwork(input, clients)).resolves.toEqual({
      deletedSecurityGroups: [],
      deletedKeyPairs: [],
      deletedParameters: [],
      deletedBootstrapIdentity: [],
      deletedDevHostIdentities: [],
    });
    await expect(deleteWorkshopUser(input, clients)).resolves.toMatchObject({ removed: [] });

    // Shared by every lab in the Region: released, not deleted.
    await expect(clients.iam.send(new GetRoleCommand({ RoleName: 'SSMLabRole' }))).resolves.toBeDefined();
    await expect(clients.iam.send(new GetRoleCommand({ RoleName: 'SSMServiceRole' }))).resolves.toBeDefined();
    await expect(
      clients.ssm.send(new GetDocumentCommand({ Name: 'SSM-SessionManagerRunShell' })),
    ).resolves.toMatchObject({ DocumentType: 'Session' });
    const { logGroups } = await clients.logs.send(
      new DescribeLogGroupsCommand({ logGroupNamePrefix: 'SSM-Logs' }),
    );
    expect(logGroups?.map((g) => g.logGroupName)).toContain('SSM-Logs');
    await expect(readActivationTier(clients)).resolves.toMatchObject({ value: 'advanced' });
    await expect(labInventory(clients, 'other-lab')).resolves.toEqual(untouched);
  });
});
