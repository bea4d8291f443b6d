import { jest } from '@jest/globals';
import { runOnFakeClock } from '../../helpers/fake-clock.js';
import { RunInstancesCommand } from '@aws-sdk/client-ec2';
import {
  CreateActivationCommand,
  DeleteActivationCommand,
  DescribeActivationsCommand,
  PutParameterCommand,
} from '@aws-sdk/client-ssm';
import {
  createActivations,
  inputSchema,
  MIN_REMAINING_MS,
} from '../../../functions/create-activations/task.js';
import { parseInput } from '../../../functions/shared/input.js';
import { labTags, toTagRecord } from '../../../functions/shared/tags.js';
import { awsError, testLab, throttled } from '../../helpers/aws.js';
import { FakeEc2 } from '../../helpers/fake-ec2.js';
import { FakeSsm, node } from '../../helpers/fake-ssm.js';
import { FakeIam } from '../../helpers/fake-iam.js';
import { ACCOUNT, REGION, callerSts } from '../../helpers/aws-mock.js';
import { HOST_GUARD_POLICY_NAME, hostGuardPolicy } from '../../../functions/shared/host-guard.js';
import { serviceTrustPolicy } from '../../../functions/shared/iam-roles.js';
import {
  labSessionLoggingPolicy,
  sessionLoggingPolicyName,
} from '../../../functions/shared/session-logging.js';

let ssm: FakeSsm;
let ec2: FakeEc2;
let iam: FakeIam;
beforeEach(() => {
  ssm = new FakeSsm();
  ec2 = new FakeEc2();
  iam = new FakeIam();
});

const lab = testLab();
const clients = () => ({ ssm: ssm.client, ec2: ec2.client, iam: iam.client, sts: callerSts() });
const run = () => createActivations({ lab, serviceRoleName: 'SSMServiceRole' }, clients());
const HOUR = 3600 * 1000;

describe('createActivations', () => {
  it('creates one activation per environment; the code goes only into a SecureString', async () => {
    const before = Date.now();
    const out = await run();
    expect(
      out.activations.map(({ environment, hostRole, codeParameter }) => ({
        environment,
        hostRole,
        codeParameter,
      })),
    ).toEqual([
      { environment: 'Dev', hostRole: 'DevOnPrem', codeParameter: '/session-lab/demo/activation/Dev/code' },
      {
        environment: 'Prod',
        hostRole: 'ProdOnPrem',
        codeParameter: '/session-lab/demo/activation/Prod/code',
      },
    ]);
    for (const { environment, activationId, codeParameter } of out.activations) {
      const activation = ssm.activations.get(activationId)!;
      expect(activation).toMatchObject({
        DefaultInstanceName: `${environment}OnPrem-demo`,
        IamRole: environment === 'Dev' ? 'SessionLabDevNode-demo' : 'SSMServiceRole',
        RegistrationLimit: 1,
      });
      expect(toTagRecord(activation.Tags)).toEqual({
        'session-lab:lab-id': 'demo',
        'session-lab:managed-by': 'session-lab',
        Environment: environment,
      });
      const expiry = activation.ExpirationDate!.getTime();
      // The default: no longer than registration can take.
      expect(expiry).toBeGreaterThanOrEqual(before + 1 * HOUR);
      expect(expiry).toBeLessThanOrEqual(Date.now() + 1 * HOUR);
      expect(ssm.parameters.get(codeParameter)).toMatchObject({
        value: activation.code,
        type: 'SecureString',
      });
    }
    const text = JSON.stringify(out);
    for (const secret of ssm.secrets()) expect(text).not.toContain(secret);
  });

  it("registers the Dev node with its lab's own role (bounded, trusted by Systems Manager for this account), the Prod node with SSMServiceRole", async () => {
    await run();
    const role = iam.roles.get('SessionLabDevNode-demo')!;
    expect(role.boundary).toBe(`arn:aws:iam::${ACCOUNT}:policy/SessionLabDevHostBoundary`);
    expect([...role.attached]).toEqual(['arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore']);
    expect(JSON.parse(decodeURIComponent(role.trust))).toEqual(
      serviceTrustPolicy(undefined, { accountId: ACCOUNT, partition: 'aws' }, REGION),
    );
    expect(JSON.parse(role.inline!.get(HOST_GUARD_POLICY_NAME)!)).toEqual(hostGuardPolicy('aws'));
    expect(JSON.parse(role.inline!.get(sessionLoggingPolicyName(REGION))!)).toEqual(
      labSessionLoggingPolicy(lab, { partition: 'aws', region: REGION, accountId: ACCOUNT }),
    );
    // Only the lab's own role is created here; SSMServiceRole is create-service-role's.
    expect([...iam.roles.keys()]).toEqual(['SessionLabDevNode-demo']);
  });

  it('converges an existing Dev node role (boundary first), and reuses the Dev activation only while it names that role', async () => {
    iam.roles.set('SessionLabDevNode-demo', {
      trust: JSON.stringify({ Version: '2012-10-17', Statement: [] }),
      attached: new Set(),
      tags: [],
    });
    const first = await run();
    expect(iam.roles.get('SessionLabDevNode-demo')!.boundary).toMatch(/SessionLabDevHostBoundary$/);
    const writes = iam.writes();
    expect(writes[0]).toBe('PutRolePermissionsBoundaryCommand');
    expect(writes).toEqual(
      expect.arrayContaining([
        'UpdateAssumeRolePolicyCommand',
        'AttachRolePolicyCommand',
        'PutRolePolicyCommand',
      ]),
    );
    // Converged: the next run writes nothing to IAM and reuses both activations.
    iam.mock.resetHistory();
    await expect(run()).resolves.toEqual(first);
    expect(iam.writes()).toEqual([]);
    // A Dev activation of an earlier release, naming the shared role, is replaced.
    const dev = first.activations.find((a) => a.environment === 'Dev')!;
    ssm.activations.get(dev.activationId)!.IamRole = 'SSMServiceRole';
    const again = await run();
    const newDev = again.activations.find((a) => a.environment === 'Dev')!;
    expect(newDev.activationId).not.toBe(dev.activationId);
    expect(ssm.activations.get(newDev.activationId)!.IamRole).toBe('SessionLabDevNode-demo');
  });

  it('refuses an expiry longer than 1 hour, naming the field', async () => {
    expect(() => testLab({ activationExpiryHours: 2 })).toThrow(/activationExpiryHours/);
    // What the handler parses before the task runs: a lab validated under the old 720 h bound.
    expect(() =>
      parseInput(inputSchema, {
        lab: { ...testLab(), activationExpiryHours: 24 },
        serviceRoleName: 'SSMServiceRole',
      }),
    ).toThrow(expect.objectContaining({ name: 'InvalidLabInput', field: 'lab.activationExpiryHours' }));
  });

  it('running twice converges: the usable activations and their stored codes are reused', async () => {
    const first = await run();
    const second = await run();
    expect(second).toEqual(first);
    expect(ssm.mock.commandCalls(CreateActivationCommand)).toHaveLength(2);
    expect(ssm.mock.commandCalls(DeleteActivationCommand)).toHaveLength(0);
  });

  it('replaces an activation whose code was never stored (crash between create and put)', async () => {
    const first = await run();
    const lost = first.activations[0]!;
    ssm.parameters.delete(lost.codeParameter);
    const second = await run();
    expect(second.activations[0]!.activationId).not.toBe(lost.activationId);
    expect(ssm.activations.has(lost.activationId)).toBe(false);
    expect(ssm.parameters.get(lost.codeParameter)!.value).toBe(
      ssm.activations.get(second.activations[0]!.activationId)!.code,
    );
    expect(second.activations[1]).toEqual(first.activations[1]);
  });

  it.each([
    ['expired', { Expired: true }],
    ['about to expire', { ExpirationDate: new Date(Date.now() + MIN_REMAINING_MS / 2) }],
    ['used up', { RegistrationsCount: 1 }],
    ['for another role', { IamRole: 'OtherRole' }],
  ])('replaces an activation that is %s, deleting its code parameter first', async (_why, change) => {
    const first = await run();
    const old = first.activations[1]!;
    const stored = ssm.activations.get(old.activationId)!;
    Object.assign(stored, change);
    if ('Expired' in change) stored.ExpirationDate = new Date(Date.now() - 1000);
    const second = await run();
    const fresh = second.activations[1]!;
    expect(fresh.activationId).not.toBe(old.activationId);
    expect(ssm.activations.has(old.activationId)).toBe(false);
    expect(ssm.parameters.get(fresh.codeParameter)!.value).toBe(
      ssm.activations.get(fresh.activationId)!.code,
    );
    // The old code was removed before the new activation existed.
    const order = ssm.mock.calls().map((c) => (c.args[0] as object).constructor.name);
    const del = order.lastIndexOf('DeleteParameterCommand');
    expect(del).toBeGreaterThan(-1);
    expect(del).toBeLessThan(order.lastIndexOf('CreateActivationCommand'));
  });

  it('replaces duplicates rather than guessing which one its stored code belongs to', async () => {
    await run();
    // A leftover second activation for Dev (an emulator or a crash in an older version).
    await ssm.client.send(
      new CreateActivationCommand({
        DefaultInstanceName: 'DevOnPrem-demo',
        IamRole: 'SSMServiceRole',
        Tags: [
          { Key: 'session-lab:lab-id', Value: 'demo' },
          { Key: 'Environment', Value: 'Dev' },
        ],
      }),
    );
    const out = await run();
    const dev = [...ssm.activations.values()].filter((a) => a.DefaultInstanceName === 'DevOnPrem-demo');
    expect(dev.map((a) => a.ActivationId)).toEqual([out.activations[0]!.activationId]);
  });

  it("leaves alone an activation with the same name that is not this lab's", async () => {
    const foreign = await ssm.client.send(
      new CreateActivationCommand({ DefaultInstanceName: 'DevOnPrem-demo', IamRole: 'SSMServiceRole' }),
    );
    await run();
    expect(ssm.activations.has(foreign.ActivationId!)).toBe(true);
  });

  it('an activation already deleted by someone else while replacing is fine', async () => {
    const first = await run();
    ssm.parameters.delete(first.activations[0]!.codeParameter);
    ssm.mock.on(DeleteActivationCommand).rejects(awsError('InvalidActivation'));
    await expect(run()).resolves.toHaveProperty('activations');
  });

  describe('while SSM cannot see the new service role yet', () => {
    beforeEach(() => jest.useFakeTimers());
    afterEach(() => jest.useRealTimers());

    const roleNotVisible = () =>
      awsError('ValidationException', 'Not existing role: arn:aws:iam::123456789012:role/SSMServiceRole');

    it('re-sends only CreateActivation in the same invocation until the role is visible', async () => {
      ssm.roleInvisibleFor = 2;

      const { output, error, waitedMs } = await runOnFakeClock(run);

      expect(error).toBeUndefined();
      expect(output!.activations.map((a) => a.environment)).toEqual(['Dev', 'Prod']);
      // Two refused, then one per environment; the look-ups ran once per environment.
      expect(ssm.mock.commandCalls(CreateActivationCommand)).toHaveLength(4);
      expect(ssm.mock.commandCalls(DescribeActivationsCommand)).toHaveLength(2);
      expect(ssm.mock.commandCalls(PutParameterCommand)).toHaveLength(2);
      // 2 s, then 2-4 s.
      expect(waitedMs).toBeGreaterThanOrEqual(4_000);
      expect(waitedMs).toBeLessThanOrEqual(6_000);
    });

    it('is IamNotPropagatedYet once its budget is spent, and nothing is stored', async () => {
      ssm.mock.on(CreateActivationCommand).rejects(roleNotVisible());

      const { error, waitedMs } = await runOnFakeClock(run);

      expect(error).toMatchObject({ name: 'IamNotPropagatedYet' });
      expect(waitedMs).toBeGreaterThan(20_000);
      expect(waitedMs).toBeLessThanOrEqual(30_000);
      expect(ssm.mock.commandCalls(CreateActivationCommand).length).toBeLessThanOrEqual(10);
      expect(ssm.mock.commandCalls(PutParameterCommand)).toHaveLength(0);
    });
  });

  it('any other ValidationException is not retried as propagation', async () => {
    ssm.mock
      .on(CreateActivationCommand)
      .rejects(awsError('ValidationException', 'ExpirationDate must be within 30 days'));
    await expect(run()).rejects.toMatchObject({ name: 'ValidationException' });
  });

  describe('on a lab provisioned already', () => {
    /**
     * An on-premises host of the lab, up, and (unless told otherwise) its hybrid node registered by
     * an earlier run: Online, the lab's tags, the host's name and address.
     */
    async function registeredHost(
      role: 'DevOnPrem' | 'ProdOnPrem',
      nodeId: string,
      nodeChange: Record<string, unknown> = {},
    ): Promise<string> {
      const environment = role === 'DevOnPrem' ? 'Dev' : 'Prod';
      const { Instances } = await ec2.client.send(
        new RunInstancesCommand({
          ImageId: 'ami-0123456789abcdef0',
          MinCount: 1,
          MaxCount: 1,
          TagSpecifications: [
            {
              ResourceType: 'instance',
              Tags: labTags('demo', { Name: `${role}-demo`, Environment: environment }),
            },
          ],
        }),
      );
      const instance = Instances![0]!;
      ec2.setState('running', [instance.InstanceId!]);
      ssm.nodes.set(
        nodeId,
        node(nodeId, { Name: `${role}-demo`, IPAddress: instance.PrivateIpAddress, ...nodeChange }),
      );
      ssm.nodeTags.set(nodeId, labTags('demo', { Environment: environment }));
      return instance.InstanceId!;
    }

    it('makes no activation for an environment whose host is up with an Online node of the lab', async () => {
      const first = await run();
      // The first run registered both hosts: their activations are spent.
      for (const activation of ssm.activations.values()) activation.RegistrationsCount = 1;
      await registeredHost('DevOnPrem', 'mi-0d0000000000000d1');
      await registeredHost('ProdOnPrem', 'mi-0a0000000000000a1');
      ssm.mock.resetHistory();
      iam.mock.resetHistory();
      await expect(run()).resolves.toEqual({
        activations: [],
        alreadyRegistered: [
          { role: 'DevOnPrem', environment: 'Dev', managedInstanceId: 'mi-0d0000000000000d1' },
          { role: 'ProdOnPrem', environment: 'Prod', managedInstanceId: 'mi-0a0000000000000a1' },
        ],
      });
      expect(ssm.mock.commandCalls(CreateActivationCommand)).toHaveLength(0);
      expect(ssm.mock.commandCalls(DeleteActivationCommand)).toHaveLength(0);
      // No activation, so the Dev node's role is not even looked at.
      expect(iam.mock.calls()).toHaveLength(0);
      // The spent activations and their codes stay until teardown.
      expect([...ssm.activations.keys()].sort()).toEqual(first.activations.map((a) => a.activationId).sort());
    });

    it('replaces the spent activation of the environment whose host is not registered', async () => {
      const first = await run();
      for (const activation of ssm.activations.values()) activation.RegistrationsCount = 1;
      await registeredHost('DevOnPrem', 'mi-0d0000000000000d1');
      const out = await run();
      expect(out.alreadyRegistered.map((n) => n.role)).toEqual(['DevOnPrem']);
      expect(out.activations.map((a) => a.environment)).toEqual(['Prod']);
      expect(out.activations[0]!.activationId).not.toBe(first.activations[1]!.activationId);
    });

    it.each([
      ['its node is ConnectionLost', { PingStatus: 'ConnectionLost' }],
      ['its node reports another address (the host was replaced)', { IPAddress: '172.31.9.9' }],
      ['its node reports no address', { IPAddress: undefined }],
    ])('still makes an activation when %s', async (_why, change) => {
      await registeredHost('DevOnPrem', 'mi-0d0000000000000d1', change);
      const out = await run();
      expect(out.alreadyRegistered).toEqual([]);
      expect(out.activations.map((a) => a.environment)).toEqual(['Dev', 'Prod']);
    });

    it('still makes an activation when the host is not up (stopped) or its node is not the lab’s', async () => {
      const dev = await registeredHost('DevOnPrem', 'mi-0d0000000000000d1');
      ec2.setState('stopped', [dev]);
      await registeredHost('ProdOnPrem', 'mi-0a0000000000000a1');
      ssm.nodeTags.set('mi-0a0000000000000a1', labTags('other', { Environment: 'Prod' }));
      const out = await run();
      expect(out.alreadyRegistered).toEqual([]);
      expect(out.activations).toHaveLength(2);
    });
  });

  it('propagates throttling for the Step Functions retry', async () => {
    ssm.mock.on(DescribeActivationsCommand).rejects(throttled.ssm());
    await expect(run()).rejects.toMatchObject({ name: 'ThrottlingException' });
  });
});
