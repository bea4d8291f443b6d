import {
  DescribeInstancesCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  clientToken,
  launchInstances,
  type LaunchInstancesInput,
} from '../../../functions/launch-instances/task.js';
import { HOST_GUARD_POLICY_NAME, hostGuardPolicy } from '../../../functions/shared/host-guard.js';
import { SHARED_NAMES } from '../../../functions/shared/names.js';
import {
  AddRoleToInstanceProfileCommand,
  PutRolePermissionsBoundaryCommand,
  CreateRoleCommand,
} from '@aws-sdk/client-iam';
import { ACCOUNT, REGION, callerSts } from '../../helpers/aws-mock.js';
import { EC2_TRUST_POLICY, type PolicyDocument } from '../../../functions/shared/iam-roles.js';
import {
  labSessionLoggingPolicy,
  sessionLoggingPolicyName,
} from '../../../functions/shared/session-logging.js';
import { toTagRecord } from '../../../functions/shared/tags.js';
import { awsError, testLab, throttled } from '../../helpers/aws.js';
import { FakeEc2 } from '../../helpers/fake-ec2.js';
import { FakeIam } from '../../helpers/fake-iam.js';
import { FakeSsm } from '../../helpers/fake-ssm.js';

const AMI = 'ami-0123456789abcdef0';
let ec2: FakeEc2;
let ssm: FakeSsm;
let iam: FakeIam;
const sts = callerSts();
const BOUNDARY = 'arn:aws:iam::123456789012:policy/SessionLabBootstrapBoundary';
const DEV_BOUNDARY = 'arn:aws:iam::123456789012:policy/SessionLabDevHostBoundary';
beforeEach(() => {
  ec2 = new FakeEc2();
  ssm = new FakeSsm();
  iam = new FakeIam();
  ssm.parameters.set(SHARED_NAMES.amiParameter, { value: AMI, type: 'String', tags: [], version: 1 });
});

const network = {
  vpcId: 'vpc-0aaaaaaaaaaaaaaaa',
  subnetId: 'subnet-0a0000000000000',
  bootstrapSecurityGroupId: 'sg-0b00000000000000b',
  onPremSecurityGroupId: 'sg-0c00000000000000c',
};
const input = (lab = testLab()): LaunchInstancesInput => ({
  lab,
  instanceProfileName: 'SSMLabProfile',
  keyName: 'MyKeyPair-demo',
  network,
});
const run = (given = input()) =>
  launchInstances(given, { ec2: ec2.client, ssm: ssm.client, iam: iam.client, sts });
const requests = () => ec2.mock.commandCalls(RunInstancesCommand).map((call) => call.args[0].input);

describe('launchInstances', () => {
  it('launches the four lab hosts and the bootstrap host as the seed describes, IMDSv2 only', async () => {
    const out = await run();
    expect(out.amiId).toBe(AMI);
    expect(out.instances.map(({ role, kind, environment }) => [role, kind, environment])).toEqual([
      ['ProdEC2Instance', 'ec2', 'Prod'],
      ['DevEC2Instance', 'ec2', 'Dev'],
      ['ProdOnPrem', 'onprem', 'Prod'],
      ['DevOnPrem', 'onprem', 'Dev'],
      ['Bootstrap', 'bootstrap', 'Bootstrap'],
    ]);
    for (const instance of out.instances) {
      const launched = ec2.instances.get(instance.instanceId)!;
      expect(instance.privateIpAddress).toBe(launched.PrivateIpAddress);
      const request = launched.request;
      expect(request).toMatchObject({
        ImageId: AMI,
        InstanceType: 't3.micro',
        MinCount: 1,
        MaxCount: 1,
        SubnetId: network.subnetId,
        MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
      });
      const tags = {
        'session-lab:lab-id': 'demo',
        'session-lab:managed-by': 'session-lab',
        'session-lab:run-id': 'provision-demo-1',
        Name: `${instance.role}-demo`,
        Environment: instance.environment,
      };
      expect(toTagRecord(launched.Tags)).toEqual(tags);
      expect(toTagRecord(launched.volumeTags)).toEqual(tags);
      if (instance.kind === 'onprem') {
        expect(request.IamInstanceProfile).toBeUndefined();
        expect(request.KeyName).toBe('MyKeyPair-demo');
        expect(request.SecurityGroupIds).toEqual([network.onPremSecurityGroupId]);
      } else {
        // The bootstrap host and the Dev EC2 host have their own lab's profiles
        // (shared/bootstrap-role.ts, shared/dev-host-roles.ts), the Prod EC2 host the shared one.
        expect(request.IamInstanceProfile).toEqual({
          Name:
            instance.kind === 'bootstrap'
              ? 'SessionLabBootstrap-demo'
              : instance.role === 'DevEC2Instance'
                ? 'SessionLabDevHost-demo'
                : 'SSMLabProfile',
        });
        expect(request.KeyName).toBeUndefined();
        expect(request.SecurityGroupIds).toEqual([
          instance.kind === 'bootstrap' ? network.bootstrapSecurityGroupId : network.onPremSecurityGroupId,
        ]);
      }
    }
    const tokens = requests().map((r) => r.ClientToken!);
    expect(new Set(tokens).size).toBe(5);
  });

  it('running twice converges: the second run launches nothing', async () => {
    const first = await run();
    await expect(run()).resolves.toEqual(first);
    expect(requests()).toHaveLength(5);
  });

  it('a re-run after a crash launches only what is missing, even where ClientToken is ignored (moto)', async () => {
    ec2.honourClientToken = false;
    await run();
    // As if the run had crashed after launching the two EC2 hosts (launched side by side, in any order).
    const launched = [...ec2.instances.values()];
    const byRole = (role: string) => launched.find((i) => i.request.ClientToken!.startsWith(`${role}-`))!;
    const [prodEc2, devEc2] = [byRole('ProdEC2Instance'), byRole('DevEC2Instance')];
    for (const instance of launched)
      if (instance !== prodEc2 && instance !== devEc2) ec2.instances.delete(instance.InstanceId!);
    const out = await run();
    expect(out.instances[0]!.instanceId).toBe(prodEc2!.InstanceId);
    expect(out.instances[1]!.instanceId).toBe(devEc2!.InstanceId);
    const launchedRoles = requests().map((r) => r.ClientToken!.split('-')[0]!);
    expect(launchedRoles.slice(0, 5).sort()).toEqual(
      ['ProdEC2Instance', 'DevEC2Instance', 'ProdOnPrem', 'DevOnPrem', 'Bootstrap'].sort(),
    );
    expect(launchedRoles.slice(5).sort()).toEqual(['ProdOnPrem', 'DevOnPrem', 'Bootstrap'].sort());
    expect(ec2.instances.size).toBe(5);
  });

  it('a retry whose launch response was lost gets the same instance back through the ClientToken', async () => {
    const first = await run();
    // The instances are not visible to DescribeInstances yet (eventual consistency).
    ec2.mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    const second = await run();
    expect(second).toEqual(first);
    expect(ec2.instances.size).toBe(5);
  });

  it('a new run on a provisioned lab reuses its hosts, launching only a bootstrap host that was terminated', async () => {
    const first = await run();
    ec2.setState('running');
    const bootstrap = first.instances.find((i) => i.role === 'Bootstrap')!.instanceId;
    ec2.setState('terminated', [bootstrap]);
    const second = await run(input(testLab({ runId: 'provision-demo-2' })));
    expect(second.instances.filter((i) => i.role !== 'Bootstrap')).toEqual(
      first.instances.filter((i) => i.role !== 'Bootstrap'),
    );
    const newBootstrap = second.instances.find((i) => i.role === 'Bootstrap')!.instanceId;
    expect(newBootstrap).not.toBe(bootstrap);
    // Launched with this run's token and tag; the reused hosts keep the tag of the run that launched them.
    const last = requests().at(-1)!;
    expect(requests()).toHaveLength(6);
    expect(last.ClientToken).toBe(clientToken(testLab({ runId: 'provision-demo-2' }), 'Bootstrap'));
    expect(toTagRecord(ec2.instances.get(newBootstrap)!.Tags)['session-lab:run-id']).toBe('provision-demo-2');
    expect(toTagRecord(ec2.byName('ProdOnPrem-demo')!.Tags)['session-lab:run-id']).toBe('provision-demo-1');
    expect(ec2.mock.commandCalls(TerminateInstancesCommand)).toHaveLength(0);
    // Exactly one host up per role.
    const up = [...ec2.instances.values()].filter((i) => ['pending', 'running'].includes(i.State!.Name!));
    expect(up).toHaveLength(5);
  });

  it('after a teardown (hosts terminated) a new run launches new hosts with new client tokens', async () => {
    const first = await run();
    ec2.setState('terminated');
    const second = await run(input(testLab({ runId: 'provision-demo-2' })));
    expect(second.instances.map((i) => i.instanceId)).not.toEqual(
      expect.arrayContaining(first.instances.map((i) => i.instanceId)),
    );
    expect(new Set(requests().map((r) => r.ClientToken)).size).toBe(10);
    expect(ec2.instances.size).toBe(10);
  });

  it('two hosts of a role up from different runs: the oldest is kept, the other terminated', async () => {
    ec2.honourClientToken = false;
    await run();
    const original = ec2.byName('DevOnPrem-demo')!;
    const later = structuredClone(original);
    later.InstanceId = 'i-0eeeeeeeeeeeeeeee';
    later.LaunchTime = new Date(original.LaunchTime!.getTime() + 3600_000);
    later.Tags = later.Tags!.map((t) =>
      t.Key === 'session-lab:run-id' ? { ...t, Value: 'provision-demo-0' } : t,
    );
    ec2.instances.set(later.InstanceId, later);
    const out = await run(input(testLab({ runId: 'provision-demo-2' })));
    expect(out.instances.find((i) => i.role === 'DevOnPrem')!.instanceId).toBe(original.InstanceId);
    expect(ec2.mock.commandCalls(TerminateInstancesCommand)[0]!.args[0].input.InstanceIds).toEqual([
      'i-0eeeeeeeeeeeeeeee',
    ]);
    expect(requests()).toHaveLength(5);
  });

  it.each(['stopped', 'stopping'] as const)(
    'a host someone left %s fails the step naming it, and nothing is launched',
    async (state) => {
      const first = await run();
      const prodOnPrem = first.instances.find((i) => i.role === 'ProdOnPrem')!.instanceId;
      ec2.instances.get(prodOnPrem)!.State = { Name: state };
      ec2.setState('terminated', [first.instances.find((i) => i.role === 'Bootstrap')!.instanceId]);
      const error = await run(input(testLab({ runId: 'provision-demo-2' }))).catch((err: Error) => err);
      expect(error).toMatchObject({ name: 'LabStepFailed' });
      expect((error as Error).message).toContain(`ProdOnPrem-demo (${prodOnPrem}) is ${state}`);
      expect(requests()).toHaveLength(5);
      expect(ec2.mock.commandCalls(TerminateInstancesCommand)).toHaveLength(0);
    },
  );

  it('a stopped host beside one that runs is left alone; the running one is used', async () => {
    const first = await run();
    const devEc2 = first.instances.find((i) => i.role === 'DevEC2Instance')!;
    const stopped = structuredClone(ec2.instances.get(devEc2.instanceId)!);
    stopped.InstanceId = 'i-0fffffffffffffff0';
    stopped.State = { Name: 'stopped' };
    ec2.instances.set(stopped.InstanceId, stopped);
    await expect(run(input(testLab({ runId: 'provision-demo-2' })))).resolves.toEqual(first);
    expect(ec2.mock.commandCalls(TerminateInstancesCommand)).toHaveLength(0);
    expect(ec2.instances.get(stopped.InstanceId)!.State!.Name).toBe('stopped');
  });

  it('a host that is shutting down is gone: its role gets a new one', async () => {
    const first = await run();
    const prodEc2 = first.instances.find((i) => i.role === 'ProdEC2Instance')!.instanceId;
    ec2.setState('shutting-down', [prodEc2]);
    const second = await run(input(testLab({ runId: 'provision-demo-2' })));
    expect(second.instances.find((i) => i.role === 'ProdEC2Instance')!.instanceId).not.toBe(prodEc2);
    expect(requests()).toHaveLength(6);
  });

  it('keeps the oldest of duplicate hosts and terminates the others', async () => {
    ec2.honourClientToken = false;
    await run();
    // A second ProdOnPrem of this run, launched a minute later (ClientToken ignored, response lost).
    const original = ec2.byName('ProdOnPrem-demo')!;
    const copy = structuredClone(original);
    copy.InstanceId = 'i-0dddddddddddddddd';
    copy.LaunchTime = new Date(original.LaunchTime!.getTime() + 60_000);
    ec2.instances.set(copy.InstanceId, copy);
    const out = await run();
    expect(out.instances.find((i) => i.role === 'ProdOnPrem')!.instanceId).toBe(original.InstanceId);
    expect(ec2.mock.commandCalls(TerminateInstancesCommand)[0]!.args[0].input.InstanceIds).toEqual([
      'i-0dddddddddddddddd',
    ]);
  });

  it('an instance profile EC2 cannot see yet is IamNotPropagatedYet (AWS and moto spellings)', async () => {
    ec2.mock
      .on(RunInstancesCommand)
      .rejects(
        awsError(
          'InvalidParameterValue',
          'Value (SSMLabProfile) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name',
        ),
      );
    await expect(run()).rejects.toMatchObject({ name: 'IamNotPropagatedYet' });
    ec2.mock
      .on(RunInstancesCommand)
      .rejects(awsError('NoSuchEntity', 'Instance profile SSMLabProfile not found'));
    await expect(run()).rejects.toMatchObject({ name: 'IamNotPropagatedYet' });
  });

  it('launches the hosts side by side: while EC2 cannot see the profile, the on-premises hosts still launch, and the retry launches the rest', async () => {
    let profileVisible = false;
    ec2.mock
      .on(RunInstancesCommand, { IamInstanceProfile: { Name: 'SSMLabProfile' } })
      .callsFake((request) => {
        if (!profileVisible) throw awsError('NoSuchEntity', 'Instance profile SSMLabProfile not found');
        return ec2.runInstances(request);
      });
    await expect(run()).rejects.toMatchObject({ name: 'IamNotPropagatedYet' });
    expect(requests()).toHaveLength(5);
    // The bootstrap host's and the Dev EC2 host's own profiles were visible.
    expect([...ec2.instances.values()].map((i) => toTagRecord(i.Tags).Name).sort()).toEqual([
      'Bootstrap-demo',
      'DevEC2Instance-demo',
      'DevOnPrem-demo',
      'ProdOnPrem-demo',
    ]);

    profileVisible = true;
    const out = await run();
    expect(out.instances.map((i) => i.role)).toEqual([
      'ProdEC2Instance',
      'DevEC2Instance',
      'ProdOnPrem',
      'DevOnPrem',
      'Bootstrap',
    ]);
    // The retry sends only the two hosts that need the shared profile.
    expect(
      requests()
        .slice(5)
        .map((r) => r.ClientToken!.split('-')[0]),
    ).toEqual(['ProdEC2Instance']);
    expect(ec2.instances.size).toBe(5);
  });

  it("gives the bootstrap host a role of its own lab: the guard's own-lab form, tagged, in its own profile", async () => {
    await run();
    const role = iam.roles.get('SessionLabBootstrap-demo')!;
    expect([...role.attached]).toEqual(['arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore']);
    expect(JSON.parse(role.inline!.get(HOST_GUARD_POLICY_NAME)!)).toEqual(hostGuardPolicy('aws', 'demo'));
    expect(toTagRecord(role.tags)).toMatchObject({ 'session-lab:lab-id': 'demo' });
    expect(iam.profiles.get('SessionLabBootstrap-demo')).toEqual(['SessionLabBootstrap-demo']);
    // A second run with the host up converges nothing of IAM.
    iam.mock.resetHistory();
    await run();
    expect(iam.mock.calls()).toHaveLength(0);
  });

  it('creates the bootstrap role with the stack’s permissions boundary, before any policy is put', async () => {
    await run();
    const created = iam.mock
      .commandCalls(CreateRoleCommand)
      .map((call) => call.args[0].input)
      .filter((request) => request.RoleName === 'SessionLabBootstrap-demo');
    expect(created).toEqual([
      expect.objectContaining({ RoleName: 'SessionLabBootstrap-demo', PermissionsBoundary: BOUNDARY }),
    ]);
    expect(iam.roles.get('SessionLabBootstrap-demo')!.boundary).toBe(BOUNDARY);
    // Created with it: nothing to put afterwards.
    expect(iam.mock.commandCalls(PutRolePermissionsBoundaryCommand)).toHaveLength(0);
  });

  it.each([
    ['none (made by an earlier release)', undefined],
    ['another policy', 'arn:aws:iam::123456789012:policy/SomethingBroader'],
  ])(
    'puts the boundary on an existing bootstrap role that has %s, before its inline policy',
    async (_why, boundary) => {
      iam.roles.set('SessionLabBootstrap-demo', {
        trust: JSON.stringify({ Version: '2012-10-17', Statement: [] }),
        attached: new Set(),
        tags: [],
        boundary,
      });
      await run();
      expect(iam.roles.get('SessionLabBootstrap-demo')!.boundary).toBe(BOUNDARY);
      const bootstrapCalls = iam.mock
        .calls()
        .filter(
          (call) => (call.args[0].input as { RoleName?: string }).RoleName === 'SessionLabBootstrap-demo',
        );
      const order = bootstrapCalls.map((call) => (call.args[0] as object).constructor.name);
      expect(order).toContain('PutRolePermissionsBoundaryCommand');
      expect(order.indexOf('PutRolePermissionsBoundaryCommand')).toBeLessThan(
        order.indexOf('PutRolePolicyCommand'),
      );
      expect(order.indexOf('PutRolePermissionsBoundaryCommand')).toBeLessThan(
        order.indexOf('AttachRolePolicyCommand'),
      );
      expect(iam.mock.commandCalls(PutRolePermissionsBoundaryCommand)[0]!.args[0].input).toEqual({
        RoleName: 'SessionLabBootstrap-demo',
        PermissionsBoundary: BOUNDARY,
      });
      expect(order.filter((name) => name === 'PutRolePolicyCommand')).toHaveLength(1);
    },
  );

  it("gives the Dev EC2 host a role of its own lab: the shared guard, logging to its own lab's streams only, bounded, in its own profile", async () => {
    await run();
    const name = 'SessionLabDevHost-demo';
    const role = iam.roles.get(name)!;
    expect(JSON.parse(decodeURIComponent(role.trust))).toEqual(EC2_TRUST_POLICY);
    expect([...role.attached]).toEqual(['arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore']);
    expect(role.boundary).toBe(DEV_BOUNDARY);
    expect(JSON.parse(role.inline!.get(HOST_GUARD_POLICY_NAME)!)).toEqual(hostGuardPolicy('aws'));
    const logging = JSON.parse(role.inline!.get(sessionLoggingPolicyName(REGION))!) as PolicyDocument;
    expect(logging).toEqual(
      labSessionLoggingPolicy(testLab(), { partition: 'aws', region: REGION, accountId: ACCOUNT }),
    );
    const statement = (sid: string) => logging.Statement.find((s) => s.Sid === sid);
    expect(statement('WriteOwnSessionLogs')).toMatchObject({
      Effect: 'Allow',
      Resource: `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:SSM-Logs:log-stream:MyWorkshopUser-demo-*`,
    });
    expect(statement('DenyLongerLabIdsSessionLogs')).toMatchObject({
      Effect: 'Deny',
      Resource: 'arn:aws:logs:*:*:log-group:*:log-stream:MyWorkshopUser-demo-*-*',
    });
    expect(toTagRecord(role.tags)).toMatchObject({ 'session-lab:lab-id': 'demo' });
    expect(iam.profiles.get(name)).toEqual([name]);
    // The Prod EC2 host keeps the shared profile; the shared role is not touched here.
    expect(iam.roles.has(SHARED_NAMES.instanceRole)).toBe(false);
  });

  it('converges an existing Dev EC2 host role: the boundary first, then its missing policies and profile', async () => {
    const name = 'SessionLabDevHost-demo';
    iam.roles.set(name, {
      trust: JSON.stringify(EC2_TRUST_POLICY),
      attached: new Set(['arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore']),
      tags: [],
    });
    iam.profiles.set(name, []);
    await run();
    const role = iam.roles.get(name)!;
    expect(role.boundary).toBe(DEV_BOUNDARY);
    expect([...role.inline!.keys()].sort()).toEqual([
      HOST_GUARD_POLICY_NAME,
      sessionLoggingPolicyName(REGION),
    ]);
    expect(iam.profiles.get(name)).toEqual([name]);
    const order = iam.mock
      .calls()
      .filter((call) => (call.args[0].input as { RoleName?: string }).RoleName === name)
      .map((call) => (call.args[0] as object).constructor.name)
      .filter((command) => !/^(Get|List)/.test(command));
    expect(order).toEqual([
      'PutRolePermissionsBoundaryCommand',
      'PutRolePolicyCommand',
      'PutRolePolicyCommand',
      'AddRoleToInstanceProfileCommand',
    ]);
  });

  it('retries a Dev host role IAM does not show yet as IamNotPropagatedYet, launching the other hosts', async () => {
    const name = 'SessionLabDevHost-demo';
    iam.mock
      .on(AddRoleToInstanceProfileCommand, { RoleName: name })
      .rejects(awsError('NoSuchEntityException'));
    await expect(run()).rejects.toMatchObject({ name: 'IamNotPropagatedYet' });
    expect(
      requests()
        .map((r) => r.ClientToken!.split('-')[0])
        .sort(),
    ).toEqual(['Bootstrap', 'DevOnPrem', 'ProdEC2Instance', 'ProdOnPrem']);
  });

  it('any other InvalidParameterValue is not retried as propagation', async () => {
    ec2.mock
      .on(RunInstancesCommand)
      .rejects(awsError('InvalidParameterValue', "Invalid value 't3.micro' for InstanceType."));
    await expect(run()).rejects.toMatchObject({ name: 'InvalidParameterValue' });
  });

  it('the same client token with other parameters (AMI changed mid-run) fails the step', async () => {
    await run();
    ec2.mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    ssm.parameters.get(SHARED_NAMES.amiParameter)!.value = 'ami-0fedcba9876543210';
    ec2.mock.on(RunInstancesCommand).rejects(awsError('IdempotentParameterMismatch'));
    await expect(run()).rejects.toMatchObject({
      name: 'LabStepFailed',
      message: expect.stringMatching(/ProdEC2Instance/),
    });
  });

  it('refuses an AMI parameter that holds no AMI id', async () => {
    ssm.parameters.get(SHARED_NAMES.amiParameter)!.value = 'none';
    await expect(run()).rejects.toMatchObject({ name: 'LabStepFailed' });
    expect(requests()).toHaveLength(0);
  });

  it('propagates throttling for the Step Functions retry', async () => {
    ec2.mock.on(RunInstancesCommand).rejects(throttled.ec2());
    await expect(run()).rejects.toMatchObject({ name: 'RequestLimitExceeded' });
  });
});

describe('clientToken', () => {
  it('is at most 64 ASCII characters, stable per run and role, different across runs, roles and labs', () => {
    const lab = { labId: 'demo', runId: 'é'.repeat(80) };
    const token = clientToken(lab, 'ProdEC2Instance');
    expect(token.length).toBeLessThanOrEqual(64);
    expect(token).toMatch(/^[\x21-\x7e]+$/);
    expect(clientToken(lab, 'ProdEC2Instance')).toBe(token);
    expect(clientToken(lab, 'DevEC2Instance')).not.toBe(token);
    expect(clientToken({ ...lab, runId: 'other' }, 'ProdEC2Instance')).not.toBe(token);
    expect(clientToken({ ...lab, labId: 'other' }, 'ProdEC2Instance')).not.toBe(token);
  });
});
