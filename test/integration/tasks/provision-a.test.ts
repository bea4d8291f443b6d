import {
  DescribeInstancesCommand,
  DescribeKeyPairsCommand,
  DescribeSecurityGroupsCommand,
} from '@aws-sdk/client-ec2';
import { GetRoleCommand, ListAttachedRolePoliciesCommand } from '@aws-sdk/client-iam';
import { GetParameterCommand, ListCommandsCommand, ListTagsForResourceCommand } from '@aws-sdk/client-ssm';
import { closeBootstrapAccess } from '../../../functions/close-bootstrap-access/task.js';
import { createActivations } from '../../../functions/create-activations/task.js';
import { createInstanceRole } from '../../../functions/create-instance-role/task.js';
import { createKeyPair } from '../../../functions/create-key-pair/task.js';
import { createNetwork } from '../../../functions/create-network/task.js';
import { createServiceRole } from '../../../functions/create-service-role/task.js';
import { launchInstances } from '../../../functions/launch-instances/task.js';
import { registerAgents } from '../../../functions/register-agents/task.js';
import { labClients } from '../../../functions/shared/clients.js';
import { isErrorNamed } from '../../../functions/shared/errors.js';
import { parsePolicyDocument } from '../../../functions/shared/iam-roles.js';
import { managedPolicies } from '../../../functions/shared/names.js';
import { toTagRecord } from '../../../functions/shared/tags.js';
import { validateLabInput } from '../../../functions/validate-lab-input/task.js';
import { waitForInstances } from '../../../functions/wait-for-instances/task.js';
import { waitForRegistration } from '../../../functions/wait-for-registration/task.js';
import { useEmulator } from '../../helpers/emulator.js';
import { polling, retrying } from '../../helpers/lab-builder.js';

/** The managed policies in the tests' Region's partition (us-east-1: aws). */
const MANAGED_POLICIES = managedPolicies('aws');

/**
 * The provisioning tasks of seed steps 1-3 (roles, activations, key pair, network, hosts, the
 * registration over Run Command, closing the bootstrap access) in the state machine's order
 * against the local emulator, through the product's clients and AWS_ENDPOINT_URL. The registration
 * script runs for real on the simulated bootstrap host, reaching the mock hosts over simulated ssh.
 */
describe('provision tasks A against the emulator', () => {
  // 0.05: a 40 s boot takes 2 s; the script's 600 s execution limit is 30 s of real time, room for
  // the dozen real processes (simulated aws, ssh, systemctl, agent) it starts on a busy machine.
  // The stack first: the bootstrap role launch-instances creates is bounded by one of its resources.
  useEmulator({ time: { scale: 0.05 }, deployStack: true });

  it('builds the hosts, registers the on-premises ones, closes the bootstrap access; no secret leaves', async () => {
    const clients = labClients();
    const lab = await validateLabInput({ input: { labId: 'prova' }, runId: 'provision-prova-1' }, clients);
    const outputs: unknown[] = [lab];

    // Seed task 1.
    const instanceRole = await retrying(() => createInstanceRole({}, clients));
    const serviceRole = await retrying(() => createServiceRole({}, clients));
    outputs.push(instanceRole, serviceRole);
    // A lab that is not the roles' first holder takes them as the first left them (a read each).
    const holder = { converge: false, heldSince: new Date().toISOString() };
    await expect(createInstanceRole(holder, clients)).resolves.toEqual(instanceRole);
    await expect(createServiceRole(holder, clients)).resolves.toEqual(serviceRole);
    const { Role } = await clients.iam.send(new GetRoleCommand({ RoleName: 'SSMServiceRole' }));
    const trust = parsePolicyDocument(Role!.AssumeRolePolicyDocument!) as {
      Statement: { Condition: unknown }[];
    };
    expect(trust.Statement[0]!.Condition).toMatchObject({
      StringEquals: { 'aws:SourceAccount': expect.any(String) },
    });
    const { AttachedPolicies = [] } = await clients.iam.send(
      new ListAttachedRolePoliciesCommand({ RoleName: 'SSMLabRole' }),
    );
    expect(AttachedPolicies.map((p) => p.PolicyArn)).toEqual([MANAGED_POLICIES.ssmCore]);

    // Seed task 2 and 3.1-3.4, each run twice: the second run converges on the first.
    const setup = async () => ({
      activations: (
        await retrying(() =>
          createActivations({ lab, serviceRoleName: serviceRole.serviceRoleName }, clients),
        )
      ).activations,
      key: await retrying(() => createKeyPair({ lab }, clients)),
      network: await retrying(() => createNetwork({ lab }, clients)),
    });
    const first = await setup();
    expect(await setup()).toEqual(first);
    const { activations, key, network } = first;
    outputs.push(first);

    // Seed task 3.5-3.8.
    const launchInput = {
      lab,
      instanceProfileName: instanceRole.instanceProfileName,
      keyName: key.keyName,
      network,
    };
    const launched = await retrying(() => launchInstances(launchInput, clients));
    expect(await retrying(() => launchInstances(launchInput, clients))).toEqual(launched);
    outputs.push(launched);
    const { Reservations = [] } = await clients.ec2.send(
      new DescribeInstancesCommand({ InstanceIds: launched.instances.map((i) => i.instanceId) }),
    );
    expect(Reservations.flatMap((r) => r.Instances ?? [])).toHaveLength(5);
    await polling(() => waitForInstances({ lab, instances: launched.instances }, clients), 'the lab hosts');

    // Seed task 3.11-3.14.
    const registerInput = {
      lab,
      instances: launched.instances,
      activations,
      privateKeyParameter: key.privateKeyParameter,
    };
    const registration = await retrying(() => registerAgents(registerInput, clients));
    expect(registration.registering).toEqual(['ProdOnPrem', 'DevOnPrem']);
    expect(await registerAgents(registerInput, clients)).toEqual(registration);
    outputs.push(registration);
    const waitInput = {
      lab,
      commandId: registration.commandId,
      bootstrapInstanceId: registration.bootstrapInstanceId,
      instances: launched.instances,
    };
    const registered = await polling(() => waitForRegistration(waitInput, clients), 'the hybrid nodes');
    outputs.push(registered);
    expect(registered.nodes).toEqual([
      {
        role: 'ProdOnPrem',
        environment: 'Prod',
        managedInstanceId: expect.stringMatching(/^mi-[0-9a-f]{17}$/),
      },
      {
        role: 'DevOnPrem',
        environment: 'Dev',
        managedInstanceId: expect.stringMatching(/^mi-[0-9a-f]{17}$/),
      },
    ]);
    for (const node of registered.nodes) {
      const { TagList } = await clients.ssm.send(
        new ListTagsForResourceCommand({
          ResourceType: 'ManagedInstance',
          ResourceId: node.managedInstanceId,
        }),
      );
      expect(toTagRecord(TagList)).toMatchObject({
        Environment: node.environment,
        'session-lab:lab-id': 'prova',
      });
    }

    // The secrets stayed in Parameter Store: not in any output, not in the command.
    const secrets: string[] = [];
    for (const name of [key.privateKeyParameter, ...activations.map((a) => a.codeParameter)]) {
      const { Parameter } = await clients.ssm.send(
        new GetParameterCommand({ Name: name, WithDecryption: true }),
      );
      expect(Parameter!.Type).toBe('SecureString');
      secrets.push(
        Parameter!.Value!,
        ...Parameter!.Value!.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----')),
      );
    }
    const { Commands = [] } = await clients.ssm.send(
      new ListCommandsCommand({ CommandId: registration.commandId! }),
    );
    const visible = JSON.stringify([outputs, Commands]);
    for (const secret of secrets) expect(visible).not.toContain(secret);

    // Hardening, twice.
    const closeInput = { lab, network, ...key, bootstrapInstanceId: registration.bootstrapInstanceId };
    await expect(retrying(() => closeBootstrapAccess(closeInput, clients))).resolves.toMatchObject({
      closed: true,
    });
    await expect(retrying(() => closeBootstrapAccess(closeInput, clients))).resolves.toMatchObject({
      closed: true,
      ingressRulesRevoked: 0,
    });
    const { SecurityGroups = [] } = await clients.ec2.send(
      new DescribeSecurityGroupsCommand({
        GroupIds: [network.bootstrapSecurityGroupId, network.onPremSecurityGroupId],
      }),
    );
    expect(SecurityGroups.flatMap((g) => g.IpPermissions ?? [])).toEqual([]);
    const keys = await clients.ec2
      .send(new DescribeKeyPairsCommand({ KeyNames: [key.keyName] }))
      .catch((err: unknown) =>
        isErrorNamed(err, 'InvalidKeyPair.NotFound') ? { KeyPairs: [] } : Promise.reject(err),
      );
    expect(keys.KeyPairs).toEqual([]);
    await expect(
      clients.ssm.send(new GetParameterCommand({ Name: key.privateKeyParameter })),
    ).rejects.toMatchObject({ name: 'ParameterNotFound' });
    const bootstrap = await clients.ec2.send(
      new DescribeInstancesCommand({ InstanceIds: [registration.bootstrapInstanceId] }),
    );
    expect(['shutting-down', 'terminated']).toContain(bootstrap.Reservations![0]!.Instances![0]!.State!.Name);
    // The hybrid nodes stay Online without the bootstrap host.
    await expect(waitForRegistration(waitInput, clients)).resolves.toMatchObject({ ready: true });
    // Registered now: the same hosts given again need no command, and the nodes are found without one.
    await expect(registerAgents(registerInput, clients)).resolves.toEqual({
      commandId: null,
      bootstrapInstanceId: registration.bootstrapInstanceId,
      registering: [],
    });
    await expect(waitForRegistration({ ...waitInput, commandId: null }, clients)).resolves.toEqual(
      registered,
    );
  });
});
