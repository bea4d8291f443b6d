import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  CreateLoginProfileCommand,
  CreateRoleCommand,
  CreateUserCommand,
  GetRoleCommand,
  IAMClient,
} from '@aws-sdk/client-iam';
import {
  CreateActivationCommand,
  DescribeActivationsCommand,
  DescribeInstanceInformationCommand,
  GetParameterCommand,
  PutParameterCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { isServerError, isThrottlingError, isTransientError } from '@smithy/core/retry';
import { waitFor } from '../../../local/emulator/net.js';
import { emulatorClientConfig, useEmulator } from '../../helpers/emulator.js';
import {
  SSM_CORE,
  fleetClients,
  instanceProfile,
  launch,
  runScript,
  securityGroup,
  serviceRole,
  trustPolicy,
  waitForPing,
} from '../../helpers/fleet.js';

const LAB_TAG = 'session-lab:lab-id';
const MI = /mi-[0-9a-f]{17}/;

/**
 * The emulator's fault injection through the AWS SDK: transient faults the SDK's retry classifies
 * and absorbs, IAM propagation, and the permanent faults of a bad night (an agent that never
 * registers, a command that hangs, an activation that expires before use).
 */
describe('emulator: fault injection', () => {
  const emulator = useEmulator({
    time: { scale: 0.01, ec2BootSeconds: 1, agentOnlineSeconds: 1, invocationVisibleSeconds: 1 },
  });
  const clients = () => fleetClients(emulator());
  /** Clients that see every fault (no SDK retry). */
  const once = () => {
    const config = { ...emulatorClientConfig(emulator()), maxAttempts: 1 };
    return { ssm: new SSMClient(config), iam: new IAMClient(config), ec2: new EC2Client(config) };
  };
  const errorOf = async (promise: Promise<unknown>) => {
    try {
      await promise;
    } catch (err) {
      return err as Error & { $metadata: { httpStatusCode?: number } };
    }
    throw new Error('expected the call to fail');
  };

  afterEach(() => {
    emulator().faults.configure({});
    emulator().faults.resetStats();
  });

  it('throttles with codes and statuses the SDK classifies as throttling', async () => {
    emulator().faults.configure({ throttle: 1 });
    const { ssm, iam, ec2 } = once();
    const ssmError = await errorOf(ssm.send(new GetParameterCommand({ Name: '/x' })));
    const iamError = await errorOf(iam.send(new GetRoleCommand({ RoleName: 'x' })));
    const ec2Error = await errorOf(ec2.send(new DescribeInstancesCommand({})));
    expect([ssmError.name, ssmError.$metadata.httpStatusCode]).toEqual(['ThrottlingException', 400]);
    expect([iamError.name, iamError.$metadata.httpStatusCode]).toEqual(['Throttling', 400]);
    expect([ec2Error.name, ec2Error.$metadata.httpStatusCode]).toEqual(['RequestLimitExceeded', 503]);
    for (const err of [ssmError, iamError, ec2Error]) expect(isThrottlingError(err as never)).toBe(true);
    expect(emulator().faults.snapshot().surfaced.throttle).toBe(3);
  });

  it('answers 5xx the SDK classifies as transient', async () => {
    emulator().faults.configure({ serverError: 1 });
    const { ssm, iam } = once();
    const errors = [
      await errorOf(ssm.send(new GetParameterCommand({ Name: '/x' }))),
      await errorOf(ssm.send(new GetParameterCommand({ Name: '/x' }))),
      await errorOf(iam.send(new GetRoleCommand({ RoleName: 'x' }))),
    ];
    for (const err of errors) {
      expect([500, 503]).toContain(err.$metadata.httpStatusCode);
      expect(isTransientError(err as never) || isServerError(err as never)).toBe(true);
    }
  });

  it('is absorbed by the SDK’s retries: every call succeeds and the figures say so', async () => {
    emulator().faults.configure({ seed: 5, throttle: 0.3, serverError: 0.1 });
    const ssm = new SSMClient({ ...emulatorClientConfig(emulator()), maxAttempts: 8 });
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        ssm
          .send(new PutParameterCommand({ Name: `/faults/p${i}`, Value: `v${i}`, Type: 'String' }))
          .then(() => ssm.send(new GetParameterCommand({ Name: `/faults/p${i}` }))),
      ),
    );
    const stats = emulator().faults.snapshot();
    expect(stats.injected.throttle + stats.injected.serverError).toBeGreaterThan(5);
    expect(stats.absorbed.throttle).toBe(stats.injected.throttle);
    expect(stats.absorbed.serverError).toBe(stats.injected.serverError);
    expect(stats.surfaced).toEqual({ throttle: 0, serverError: 0, serverErrorAfterEffect: 0 });
  });

  it('a lost reply: the request took effect, the caller saw a 500', async () => {
    emulator().faults.configure({ serverErrorAfterEffect: { 'ssm:PutParameter': 1 } });
    const { ssm } = once();
    const err = await errorOf(
      ssm.send(new PutParameterCommand({ Name: '/faults/lost', Value: 'kept', Type: 'String' })),
    );
    expect(err.$metadata.httpStatusCode).toBe(500);
    emulator().faults.configure({});
    const { Parameter } = await ssm.send(new GetParameterCommand({ Name: '/faults/lost' }));
    expect(Parameter?.Value).toBe('kept');
  });

  it('models IAM propagation for instance profiles, activation roles and new users', async () => {
    // 600 model seconds at scale 0.01: 6 s of real time, so the setup calls below stay inside the
    // window even on a loaded machine (1.5 s was outlasted under load).
    emulator().faults.configure({ iamPropagationSeconds: 600 });
    const { iam, ec2, ssm } = once();
    const profile = await instanceProfile(iam, 'FaultsProfile', [SSM_CORE]);
    const group = await securityGroup(ec2, 'faults-iam');
    const early = await errorOf(launch(ec2, { profile, groups: [group] }));
    expect(early.name).toBe('InvalidParameterValue');
    expect(early.message).toBe(
      'Value (FaultsProfile) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name',
    );
    await serviceRole(iam, 'FaultsServiceRole');
    const activation = await errorOf(ssm.send(new CreateActivationCommand({ IamRole: 'FaultsServiceRole' })));
    expect([activation.name, activation.message]).toEqual([
      'ValidationException',
      'Not existing role: arn:aws:iam::123456789012:role/FaultsServiceRole',
    ]);
    await iam.send(new CreateUserCommand({ UserName: 'faults-user' }));
    const lastCreated = Date.now();
    const login = await errorOf(
      iam.send(new CreateLoginProfileCommand({ UserName: 'faults-user', Password: 'Aa1!aaaaaaaaaaaa' })),
    );
    expect(login.name).toBe('NoSuchEntityException');

    await new Promise((resolve) => setTimeout(resolve, lastCreated + 6100 - Date.now()));
    await expect(launch(ec2, { profile, groups: [group] })).resolves.toMatchObject({
      InstanceId: expect.stringMatching(/^i-/),
    });
    await expect(
      ssm.send(new CreateActivationCommand({ IamRole: 'FaultsServiceRole' })),
    ).resolves.toMatchObject({ ActivationId: expect.any(String) });
    await expect(
      iam.send(new CreateLoginProfileCommand({ UserName: 'faults-user', Password: 'Aa1!aaaaaaaaaaaa' })),
    ).resolves.toBeDefined();
    // A role created before the window was configured, or another role, is not affected.
    await iam.send(
      new CreateRoleCommand({
        RoleName: 'FaultsOther',
        AssumeRolePolicyDocument: trustPolicy('ec2.amazonaws.com'),
      }),
    );
    expect(emulator().faults.snapshot().injected.iamPropagation).toBe(3);
  });

  describe('lab-scoped permanent faults', () => {
    let profile: string;
    let group: string;
    const host = async (labId: string) => {
      const { ec2, ssm } = clients();
      const instance = await launch(ec2, { profile, groups: [group], tags: { [LAB_TAG]: labId } });
      await waitForPing(ssm, instance.InstanceId!);
      return instance.InstanceId!;
    };
    const createActivation = (labId: string) =>
      clients().ssm.send(
        new CreateActivationCommand({
          IamRole: 'FaultsHybridRole',
          RegistrationLimit: 2,
          Tags: [{ Key: LAB_TAG, Value: labId }],
        }),
      );
    const register = (hostId: string, activation: { ActivationId?: string; ActivationCode?: string }) =>
      runScript(clients().ssm, hostId, [
        'set -e',
        `amazon-ssm-agent -register -code "${activation.ActivationCode}" -id "${activation.ActivationId}" -region us-east-1 -y`,
        'systemctl restart amazon-ssm-agent',
      ]);

    beforeAll(async () => {
      const { iam, ec2 } = clients();
      profile = await instanceProfile(iam, 'FaultsHostProfile', [SSM_CORE]);
      group = await securityGroup(ec2, 'faults-hosts');
      await serviceRole(iam, 'FaultsHybridRole');
    });

    it('a command on the lab’s hosts hangs and ends TimedOut; other labs’ commands run', async () => {
      emulator().faults.configure({ commandTimeout: { labIds: ['hung'], afterSeconds: 30 } });
      const [hung, fine] = await Promise.all([host('hung'), host('fine')]);
      const [timedOut, ran] = await Promise.all([
        runScript(clients().ssm, hung, ['echo hello']),
        runScript(clients().ssm, fine, ['echo hello']),
      ]);
      expect([timedOut.Status, timedOut.StatusDetails, timedOut.ResponseCode]).toEqual([
        'TimedOut',
        'ExecutionTimedOut',
        -1,
      ]);
      expect(timedOut.StandardOutputContent).toBe('');
      expect([ran.Status, ran.StandardOutputContent]).toEqual(['Success', 'hello\n']);
      expect(emulator().faults.snapshot().injected.commandTimeout).toBe(1);
    });

    it('an activation of the lab expires before it is used; registration is refused', async () => {
      emulator().faults.configure({ activationExpiry: { labIds: ['stale'], afterSeconds: 1 } });
      const [stale, fresh] = await Promise.all([createActivation('stale'), createActivation('fresh')]);
      // The injected expiry is at least 250 ms ahead (faults.ts).
      await new Promise((resolve) => setTimeout(resolve, 300));
      const { ActivationList = [] } = await clients().ssm.send(new DescribeActivationsCommand({}));
      const expired = (id?: string) => ActivationList.find((a) => a.ActivationId === id)?.Expired;
      expect([expired(stale.ActivationId), expired(fresh.ActivationId)]).toEqual([true, false]);
      const refused = await register(await host('stale'), stale);
      expect(refused.Status).toBe('Failed');
      expect(refused.StandardErrorContent).toMatch(/Registration failed .*expired/);
    });

    it('an agent whose registration is refused, and one that registers but never comes Online', async () => {
      emulator().faults.configure({ agentRegistration: { fail: 'refused', labIds: ['refused'] } });
      const refused = await register(await host('refused'), await createActivation('refused'));
      expect(refused.Status).toBe('Failed');
      expect(refused.StandardErrorContent).toMatch(/Registration failed due to .*i\/o timeout/);

      emulator().faults.configure({ agentRegistration: { fail: 'offline', labIds: ['offline'] } });
      const silent = await register(await host('offline'), await createActivation('offline'));
      expect(silent.Status).toBe('Success');
      const nodeId = MI.exec(silent.StandardOutputContent ?? '')![0];
      // Well past agentOnlineSeconds, the node still reads ConnectionLost.
      await new Promise((resolve) => setTimeout(resolve, 100));
      await expect(
        waitFor(
          async () => {
            const { InstanceInformationList = [] } = await clients().ssm.send(
              new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [nodeId] }] }),
            );
            return InstanceInformationList[0]?.PingStatus === 'Online';
          },
          { timeoutMs: 300, intervalMs: 50, what: `${nodeId} Online` },
        ),
      ).rejects.toThrow(/timed out/);
      expect(emulator().faults.snapshot().injected.agentRegistration).toBe(2);
    });
  });
});
