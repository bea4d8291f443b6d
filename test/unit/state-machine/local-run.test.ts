import { describe, expect, it } from '@jest/globals';
import { loadAsl, runLocal, taskError, type FakeTask } from '../../helpers/asl.js';

/**
 * The shipped workflow files run by aws-local-stepfunctions (the engine of the local runner) with
 * fake tasks: data flow between steps, the wait loops, retries, and the failure paths.
 */

const LAB = { labId: 'demo', runId: 'exec-42', policyMode: 'strict', instanceType: 't3.micro' };
const NETWORK = {
  vpcId: 'vpc-0a1b2c3d',
  subnetId: 'subnet-0a1b2c3d',
  bootstrapSecurityGroupId: 'sg-0b00',
  onPremSecurityGroupId: 'sg-0c00',
};
const INSTANCES = [
  {
    role: 'ProdEC2Instance',
    kind: 'ec2',
    environment: 'Prod',
    instanceId: 'i-01',
    privateIpAddress: '10.0.0.1',
  },
  {
    role: 'DevEC2Instance',
    kind: 'ec2',
    environment: 'Dev',
    instanceId: 'i-02',
    privateIpAddress: '10.0.0.2',
  },
  {
    role: 'ProdOnPrem',
    kind: 'onprem',
    environment: 'Prod',
    instanceId: 'i-03',
    privateIpAddress: '10.0.0.3',
  },
  { role: 'DevOnPrem', kind: 'onprem', environment: 'Dev', instanceId: 'i-04', privateIpAddress: '10.0.0.4' },
  {
    role: 'Bootstrap',
    kind: 'bootstrap',
    environment: 'Bootstrap',
    instanceId: 'i-05',
    privateIpAddress: '10.0.0.5',
  },
];
const ACTIVATIONS = [
  {
    environment: 'Dev',
    hostRole: 'DevOnPrem',
    activationId: 'act-dev',
    codeParameter: '/session-lab/demo/activation/Dev/code',
  },
  {
    environment: 'Prod',
    hostRole: 'ProdOnPrem',
    activationId: 'act-prod',
    codeParameter: '/session-lab/demo/activation/Prod/code',
  },
];
const NODES = [
  { role: 'ProdOnPrem', environment: 'Prod', managedInstanceId: 'mi-0123456789abcdef0' },
  { role: 'DevOnPrem', environment: 'Dev', managedInstanceId: 'mi-0123456789abcdef1' },
];
const USER = {
  userName: 'MyWorkshopUser-demo',
  userArn: 'arn:aws:iam::123456789012:user/MyWorkshopUser-demo',
  policyArn: 'arn:aws:iam::123456789012:policy/SSMDevAccess-demo',
  passwordSecretArn:
    'arn:aws:secretsmanager:us-east-1:123456789012:secret:session-lab/demo/MyWorkshopUser-password-AbCdEf',
  attachedPolicies: ['SSMDevAccess-demo'],
};
const LOGGING = {
  logGroupName: 'SSM-Logs',
  documentName: 'SSM-SessionManagerRunShell',
  documentVersion: '3',
  preferences: { cloudWatchLogGroupName: 'SSM-Logs', cloudWatchStreamingEnabled: true },
};
/** A value no step may ever pass on: a fake task leaks it beside its real output. */
const LEAKED = 'BEGIN RSA PRIVATE KEY not-for-state';

const report = (payload: Record<string, unknown>, ok = true) => ({
  labId: (payload.lab as { labId: string }).labId,
  policyMode: 'strict',
  signInUrl: 'https://123456789012.signin.aws.amazon.com/console',
  user: { userName: USER.userName, passwordSecretArn: USER.passwordSecretArn },
  nodes: NODES.map((node) => ({ ...node, nodeId: node.managedInstanceId, pingStatus: 'Online' })),
  accessMatrix: [],
  preferences: LOGGING.preferences,
  ok,
});

const HELD_SINCE = '2026-12-04T10:00:00.000Z';

/** What acquire-shared-resources answers: this lab is the first holder of every singleton (or of none). */
const acquired = (first = true) => ({
  labId: 'demo',
  registry: 'enabled',
  mustCreate: { advancedTier: first, preferences: first, logGroup: first, sharedRoles: first },
  holders: { advancedTier: 1, preferences: 1, logGroup: 1, sharedRoles: 1 },
  heldSince: {
    advancedTier: HELD_SINCE,
    preferences: HELD_SINCE,
    logGroup: HELD_SINCE,
    sharedRoles: HELD_SINCE,
  },
});
const recorded = (payload: Record<string, unknown>) => ({
  labId: payload.labId ?? (payload.input as { labId?: string } | undefined)?.labId,
  status: payload.status,
  recorded: true,
});

/**
 * A poll task's handler (labHandler untilReady): NotReadyYet naming what it waits for until the
 * check `readyAt`, then the ready output.
 */
const poll =
  (readyAt: number, ready: () => object, waiting: object): FakeTask =>
  (_, call) => {
    if (call < readyAt) throw taskError('NotReadyYet', `not ready yet: ${JSON.stringify(waiting)}`);
    return { ready: true, ...ready() };
  };

/** Fakes for every provision task: the tier takes 3 checks, instances and registration 2. */
function provisionTasks(overrides: Record<string, FakeTask> = {}): Record<string, FakeTask> {
  return {
    'Validate lab input': (payload) => ({ ...LAB, ...(payload.input as object), runId: payload.runId }),
    'Record provisioning': recorded,
    'Acquire shared resources': () => acquired(),
    'Record lab ready': recorded,
    'Record provision failure': recorded,
    'Delete activations': () => ({ deletedActivations: [], deletedParameters: [] }),
    'Enable advanced tier': () => ({ settingId: 'tier', value: 'advanced', status: 'PendingUpdate' }),
    'Wait for advanced tier': poll(3, () => ({ value: 'advanced', status: 'Customized' }), {
      value: 'advanced',
      status: 'PendingUpdate',
    }),
    'Create instance role': () => ({
      instanceRoleName: 'SSMLabRole',
      instanceProfileName: 'SSMLabProfile',
      instanceProfileArn: 'arn:aws:iam::123456789012:instance-profile/SSMLabProfile',
    }),
    'Create service role': () => ({
      serviceRoleName: 'SSMServiceRole',
      serviceRoleArn: 'arn:aws:iam::123456789012:role/SSMServiceRole',
    }),
    'Create activations': () => ({ activations: ACTIVATIONS }),
    'Create key pair': () => ({
      keyName: 'MyKeyPair-demo',
      privateKeyParameter: '/session-lab/demo/key-pair/private-key',
      keyMaterial: LEAKED,
    }),
    'Create network': () => NETWORK,
    'Launch instances': () => ({ amiId: 'ami-0abc', instances: INSTANCES }),
    'Wait for instances': poll(2, () => ({ pending: [] }), { pending: ['ProdEC2Instance'] }),
    'Register agents': () => ({ commandId: 'cmd-1', bootstrapInstanceId: 'i-05' }),
    'Wait for registration': poll(2, () => ({ pending: [], nodes: NODES }), {
      pending: ['DevOnPrem'],
      nodes: [],
    }),
    'Close bootstrap access': () => ({ closed: true }),
    'Configure session logging': () => LOGGING,
    'Create workshop user': () => USER,
    'Verify lab': (payload) => report(payload),
    ...overrides,
  };
}

const provision = loadAsl('provision-lab');

describe('provision-lab, run locally', () => {
  it('builds the lab step by step and returns the report', async () => {
    const run = await runLocal(provision, { labId: 'demo' }, provisionTasks(), 'exec-42');

    expect(run.error).toBeUndefined();
    expect(run.status).toBe('SUCCEEDED');
    expect(run.output).toEqual(report({ lab: LAB }));
    // The edge gets the execution input untouched and the execution name as runId.
    expect(run.calls.get('Validate lab input')).toEqual([{ input: { labId: 'demo' }, runId: 'exec-42' }]);
    // The lab is recorded provisioning under this run and takes its shared references first.
    expect(run.calls.get('Record provisioning')).toEqual([
      { labId: 'demo', status: 'provisioning', executionName: 'exec-42' },
    ]);
    expect(run.calls.get('Acquire shared resources')).toEqual([{ lab: LAB }]);
    // Tasks on account-wide resources get the lab id and run, so their progress is recorded.
    // The shared roles' tasks also learn whether this lab converges them (their first holder).
    const sharedRoles = { labId: 'demo', runId: 'exec-42', converge: true, heldSince: HELD_SINCE };
    expect(run.calls.get('Create instance role')).toEqual([sharedRoles]);
    expect(run.calls.get('Create service role')).toEqual([sharedRoles]);
    const holding = { converge: true, heldSince: HELD_SINCE };
    expect(run.calls.get('Configure session logging')).toEqual([
      { lab: LAB, logGroup: holding, preferences: holding },
    ]);
    expect(run.calls.get('Enable advanced tier')).toEqual([{ labId: 'demo', runId: 'exec-42' }]);
    expect(run.calls.get('Create activations')).toEqual([{ lab: LAB, serviceRoleName: 'SSMServiceRole' }]);
    expect(run.calls.get('Launch instances')).toEqual([
      { lab: LAB, instanceProfileName: 'SSMLabProfile', keyName: 'MyKeyPair-demo', network: NETWORK },
    ]);
    expect(run.calls.get('Register agents')).toEqual([
      {
        lab: LAB,
        instances: INSTANCES,
        activations: ACTIVATIONS,
        privateKeyParameter: '/session-lab/demo/key-pair/private-key',
      },
    ]);
    expect(run.calls.get('Wait for registration')?.[0]).toEqual({
      lab: LAB,
      commandId: 'cmd-1',
      bootstrapInstanceId: 'i-05',
      instances: INSTANCES,
    });
    expect(run.calls.get('Close bootstrap access')).toEqual([
      {
        lab: LAB,
        network: NETWORK,
        keyName: 'MyKeyPair-demo',
        privateKeyParameter: '/session-lab/demo/key-pair/private-key',
        bootstrapInstanceId: 'i-05',
      },
    ]);
    expect(run.calls.get('Verify lab')).toEqual([
      { lab: LAB, instances: INSTANCES, nodes: NODES, user: USER, logging: LOGGING },
    ]);
    expect(run.calls.get('Record lab ready')).toEqual([
      { labId: 'demo', status: 'ready', executionName: 'exec-42', report: report({ lab: LAB }) },
    ]);
    expect(run.calls.has('Record provision failure')).toBe(false);
  });

  it('leaves the advanced tier and the shared roles to their first holder: another lab only waits for them', async () => {
    const run = await runLocal(
      provision,
      { labId: 'demo' },
      provisionTasks({ 'Acquire shared resources': () => acquired(false) }),
    );

    expect(run.status).toBe('SUCCEEDED');
    expect(run.calls.has('Enable advanced tier')).toBe(false);
    expect(run.calls.get('Wait for advanced tier')).toHaveLength(3);
    const sharedRoles = { labId: 'demo', runId: 'run-1', converge: false, heldSince: HELD_SINCE };
    expect(run.calls.get('Create instance role')).toEqual([sharedRoles]);
    expect(run.calls.get('Create service role')).toEqual([sharedRoles]);
  });

  it('retries a lost registry race when taking the shared references, and fails at once on a settings conflict', async () => {
    const raced = await runLocal(
      provision,
      { labId: 'demo' },
      provisionTasks({
        'Acquire shared resources': (_, call) => {
          if (call < 2) throw taskError('RegistryConflict', 'could not acquire advanced-tier');
          return acquired();
        },
      }),
    );
    expect(raced.status).toBe('SUCCEEDED');
    expect(raced.retried).toContain('Acquire shared resources');

    const conflict = await runLocal(
      provision,
      { labId: 'demo' },
      provisionTasks({
        'Acquire shared resources': () => {
          throw taskError('SharedSettingConflict', 'idleSessionTimeoutMinutes: shared by 2 lab(s) with 20');
        },
      }),
    );
    expect(conflict.status).toBe('FAILED');
    expect(conflict.error).toBe('Acquire shared resources failed: SharedSettingConflict');
    expect(conflict.calls.get('Acquire shared resources')).toHaveLength(1);
    expect(conflict.calls.has('Create key pair')).toBe(false);
  });

  it('on a lab provisioned already, no registration command: the wait gets commandId null and is ready at once', async () => {
    const run = await runLocal(
      provision,
      { labId: 'demo' },
      provisionTasks({
        'Create activations': () => ({ activations: [], alreadyRegistered: NODES }),
        'Register agents': () => ({ commandId: null, bootstrapInstanceId: 'i-05', registering: [] }),
        'Wait for registration': () => ({ ready: true, pending: [], nodes: NODES }),
      }),
      'exec-42',
    );

    expect(run.error).toBeUndefined();
    expect(run.status).toBe('SUCCEEDED');
    expect(run.calls.get('Register agents')?.[0]).toMatchObject({ activations: [] });
    expect(run.calls.get('Wait for registration')).toEqual([
      { lab: LAB, commandId: null, bootstrapInstanceId: 'i-05', instances: INSTANCES },
    ]);
    expect(run.retried).not.toContain('Wait for registration');
    // The bootstrap host launched by this run is still closed down.
    expect(run.calls.get('Close bootstrap access')?.[0]).toMatchObject({ bootstrapInstanceId: 'i-05' });
    expect(run.calls.get('Verify lab')?.[0]).toMatchObject({ nodes: NODES });
  });

  it('polls with each poll task’s Retry until ready: one retry per further check, no other states', async () => {
    const run = await runLocal(provision, { labId: 'demo' }, provisionTasks());

    expect(run.status).toBe('SUCCEEDED');
    expect(run.calls.get('Wait for advanced tier')).toHaveLength(3);
    expect(run.calls.get('Wait for instances')).toHaveLength(2);
    expect(run.calls.get('Wait for registration')).toHaveLength(2);
    const count = (list: string[], state: string) => list.filter((name) => name === state).length;
    expect(count(run.retried, 'Wait for advanced tier')).toBe(2);
    expect(count(run.retried, 'Wait for instances')).toBe(1);
    expect(count(run.retried, 'Wait for registration')).toBe(1);
    for (const state of ['Wait for advanced tier', 'Wait for instances', 'Wait for registration'])
      expect([state, count(run.entered, state)]).toEqual([state, 1]);
    // The nodes the registration found reach the verification.
    expect(run.calls.get('Verify lab')?.[0]).toMatchObject({ nodes: NODES });
  });

  it('provisions a lab in at most 80 billed transitions (states entered and retries)', async () => {
    const run = await runLocal(provision, { labId: 'demo' }, provisionTasks());
    expect(run.entered.length + run.retried.length).toBeLessThanOrEqual(80);
  });

  it('drops everything a step returns beyond what later steps need', async () => {
    const run = await runLocal(provision, { labId: 'demo' }, provisionTasks());

    const passedOn = JSON.stringify(
      [...run.calls.entries()].filter(([state]) => state !== 'Create key pair'),
    );
    expect(passedOn).not.toContain(LEAKED);
    expect(JSON.stringify(run.output)).not.toContain(LEAKED);
  });

  it('retries a task that reports IAM not propagated yet, then carries on', async () => {
    const run = await runLocal(
      provision,
      { labId: 'demo' },
      provisionTasks({
        'Create instance role': (_, call) => {
          if (call < 3) throw taskError('IamNotPropagatedYet', 'SSMLabProfile not visible to EC2 yet');
          return {
            instanceRoleName: 'SSMLabRole',
            instanceProfileName: 'SSMLabProfile',
            instanceProfileArn: 'arn',
          };
        },
      }),
    );

    expect(run.status).toBe('SUCCEEDED');
    expect(run.calls.get('Create instance role')).toHaveLength(3);
    expect(run.retried.filter((name) => name === 'Create instance role')).toHaveLength(2);
  });

  it('retries a task throttled beyond the SDK’s retries, even past NotReadyYet’s ten attempts, then carries on', async () => {
    const run = await runLocal(
      provision,
      { labId: 'demo' },
      provisionTasks({
        'Launch instances': (payload, call) => {
          if (call < 13)
            throw taskError('Throttled', 'throttled beyond the SDK’s retries: RequestLimitExceeded');
          return provisionTasks()['Launch instances']!(payload, call);
        },
      }),
    );

    expect(run.status).toBe('SUCCEEDED');
    expect(run.retried.filter((name) => name === 'Launch instances')).toHaveLength(12);
  });

  it('fails at once on a bad input, naming the field, before any other step', async () => {
    const run = await runLocal(
      provision,
      { labId: 'Demo!' },
      provisionTasks({
        'Validate lab input': () => {
          throw taskError('InvalidLabInput', 'labId: must be lowercase letters, digits and hyphens');
        },
      }),
    );

    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('Validate lab input failed: InvalidLabInput');
    expect(run.cause).toBe('labId: must be lowercase letters, digits and hyphens');
    expect([...run.calls.keys()]).toEqual(['Validate lab input', 'Record provision failure']);
    expect(run.retried).toEqual([]);
  });

  it('fails with the step in the error when a middle step fails, and goes no further', async () => {
    const run = await runLocal(
      provision,
      { labId: 'demo' },
      provisionTasks({
        'Register agents': () => {
          throw taskError('LabStepFailed', 'the registration script exited with 1 on ProdOnPrem');
        },
      }),
    );

    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('Register agents failed: LabStepFailed');
    expect(run.cause).toBe('the registration script exited with 1 on ProdOnPrem');
    expect(run.calls.get('Register agents')).toHaveLength(1);
    // The registry learns the failed step (from the error) and why, for the lab the input names.
    expect(run.calls.get('Record provision failure')).toEqual([
      {
        input: { labId: 'demo' },
        status: 'failed',
        executionName: 'run-1',
        error: {
          Error: 'Register agents failed: LabStepFailed',
          Cause: 'the registration script exited with 1 on ProdOnPrem',
        },
      },
    ]);
    expect(run.calls.has('Record lab ready')).toBe(false);
    // What create-activations made does not outlive the failed run: deleted before it is recorded.
    expect(run.calls.get('Delete activations')).toEqual([{ labId: 'demo' }]);
    expect(run.entered.indexOf('Delete activations')).toBeLessThan(
      run.entered.indexOf('Record provision failure'),
    );
    for (const later of ['Wait for registration', 'Close bootstrap access', 'Verify lab']) {
      expect(run.calls.has(later)).toBe(false);
    }
    // The branch's own events may reach the log after the execution ends; its outcome is what counts.
    expect(run.entered).toContain('Provision failed');
  });

  it('fails with the real error when deleting the activations after it fails too', async () => {
    const run = await runLocal(
      provision,
      { labId: 'demo' },
      provisionTasks({
        'Wait for registration': () => {
          throw taskError('LabStepFailed', 'registration command ended Failed');
        },
        'Delete activations': () => {
          throw taskError('AccessDeniedException', 'not authorized to perform: ssm:DeleteActivation');
        },
      }),
    );

    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('Wait for registration failed: LabStepFailed');
    expect(run.cause).toBe('registration command ended Failed');
    expect(run.calls.get('Delete activations')).toHaveLength(1);
    expect(run.calls.get('Record provision failure')).toEqual([
      expect.objectContaining({
        status: 'failed',
        error: {
          Error: 'Wait for registration failed: LabStepFailed',
          Cause: 'registration command ended Failed',
        },
      }),
    ]);
  });

  it('fails with the real error when recording the failure fails too', async () => {
    const run = await runLocal(
      provision,
      { policyMode: 'strict' },
      provisionTasks({
        'Validate lab input': () => {
          throw taskError('InvalidLabInput', 'labId: required');
        },
        'Record provision failure': () => {
          throw taskError('InvalidLabInput', 'labId: required');
        },
      }),
    );

    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('Validate lab input failed: InvalidLabInput');
    expect(run.cause).toBe('labId: required');
    expect(run.calls.get('Record provision failure')).toEqual([
      expect.objectContaining({ input: { policyMode: 'strict' }, status: 'failed' }),
    ]);
  });

  it('gives up on a poll after its Retry schedule, saying what is still pending', async () => {
    const run = await runLocal(
      provision,
      { labId: 'demo' },
      provisionTasks({ 'Wait for instances': poll(Infinity, () => ({}), { pending: ['ProdOnPrem'] }) }),
    );

    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('Wait for instances failed: NotReadyYet');
    expect(run.cause).toBe('not ready yet: {"pending":["ProdOnPrem"]}');
    // The first check and 95 more: about 940 s of polling.
    expect(run.calls.get('Wait for instances')).toHaveLength(96);
    expect(run.calls.has('Register agents')).toBe(false);
  });

  it('fails when the report says the lab is not as expected, with the report as the cause', async () => {
    const run = await runLocal(
      provision,
      { labId: 'demo' },
      provisionTasks({ 'Verify lab': (payload) => report(payload, false) }),
    );

    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('Verify lab failed: LabNotAsExpected');
    expect(JSON.parse(run.cause!)).toEqual(report({ lab: LAB }, false));
  });
});

describe('teardown-lab, run locally', () => {
  const teardown = loadAsl('teardown-lab');
  const RELEASED = {
    labId: 'demo',
    registry: 'enabled',
    released: ['advanced-tier'],
    lastHolder: true,
    revert: true,
  };
  const teardownTasks = (overrides: Record<string, FakeTask> = {}): Record<string, FakeTask> => ({
    'Validate lab input': (payload) => ({ ...LAB, ...(payload.input as object), runId: payload.runId }),
    'Record tearing down': recorded,
    'Release shared resources': () => ({
      ...RELEASED,
      reverted: [{ key: 'advanced-tier', action: 'reset' }],
    }),
    'Record lab deleted': recorded,
    'Record teardown failure': recorded,
    'Terminate sessions': () => ({ terminated: [] }),
    'Deregister nodes': () => ({ deregistered: ['mi-0123456789abcdef0'] }),
    'Delete activations': () => ({ deleted: ['act-dev', 'act-prod'] }),
    'Terminate instances': (_, call) => ({ ready: call >= 3, pending: call >= 3 ? [] : ['i-01'] }),
    'Delete network': (_, call) => {
      if (call < 3) throw taskError('NotReadyYet', 'DependencyViolation: sg-0b00 is still in use');
      return { deleted: ['sg-0b00', 'sg-0c00'] };
    },
    'Delete workshop user': () => ({ deleted: true }),
    ...overrides,
  });

  it('removes the lab in order, polling termination and retrying the network until it is free', async () => {
    const run = await runLocal(teardown, { labId: 'demo' }, teardownTasks(), 'teardown-1');

    expect(run.status).toBe('SUCCEEDED');
    expect(run.output).toEqual({
      labId: 'demo',
      removed: true,
      shared: {
        released: ['advanced-tier'],
        lastHolder: true,
        reverted: [{ key: 'advanced-tier', action: 'reset' }],
      },
    });
    expect(run.calls.get('Validate lab input')).toEqual([{ input: { labId: 'demo' }, runId: 'teardown-1' }]);
    expect([...run.calls.keys()]).toEqual([
      'Validate lab input',
      'Record tearing down',
      'Terminate sessions',
      'Delete activations',
      'Deregister nodes',
      'Terminate instances',
      'Delete network',
      'Delete workshop user',
      'Release shared resources',
      'Record lab deleted',
    ]);
    // The shared references are given back only once the lab's own resources are gone.
    expect(run.calls.get('Release shared resources')).toEqual([
      { labId: 'demo', executionName: 'teardown-1' },
    ]);
    expect(run.calls.get('Record lab deleted')).toEqual([
      { labId: 'demo', status: 'deleted', executionName: 'teardown-1' },
    ]);
    for (const step of ['Terminate sessions', 'Deregister nodes', 'Delete workshop user']) {
      expect(run.calls.get(step)).toEqual([{ labId: 'demo' }]);
    }
    expect(run.calls.get('Terminate instances')).toHaveLength(3);
    expect(run.retried.filter((name) => name === 'Delete network')).toHaveLength(2);
  });

  it('stops at the failed step and names it', async () => {
    const run = await runLocal(
      teardown,
      { labId: 'demo' },
      teardownTasks({
        'Deregister nodes': () => {
          throw taskError('AccessDeniedException', 'not authorized to perform ssm:DeregisterManagedInstance');
        },
      }),
    );

    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('Deregister nodes failed: AccessDeniedException');
    expect(run.calls.has('Terminate instances')).toBe(false);
    // Nothing released and the lab not marked deleted: recorded failed, naming the step.
    expect(run.calls.has('Release shared resources')).toBe(false);
    expect(run.calls.has('Record lab deleted')).toBe(false);
    expect(run.calls.get('Record teardown failure')).toEqual([
      expect.objectContaining({
        input: { labId: 'demo' },
        status: 'failed',
        error: expect.objectContaining({ Error: 'Deregister nodes failed: AccessDeniedException' }),
      }),
    ]);
  });
});

describe('reset-lab, run locally', () => {
  const reset = loadAsl('reset-lab');
  const input = { labId: 'demo', policyMode: 'seed' };

  it('tears down, then provisions, as children named after the reset run, and returns the report', async () => {
    const newReport = report({ lab: LAB });
    const run = await runLocal(
      reset,
      input,
      {
        'Tear down lab': () => ({ Status: 'SUCCEEDED', Output: { labId: 'demo', removed: true } }),
        'Provision lab': () => ({ Status: 'SUCCEEDED', Output: newReport }),
      },
      'nightly-2026-11-23',
    );

    expect(run.status).toBe('SUCCEEDED');
    expect(run.output).toEqual(newReport);
    expect(run.calls.get('Tear down lab')).toEqual([
      { StateMachineArn: '${TeardownLabStateMachineArn}', Name: 'nightly-2026-11-23-teardown', Input: input },
    ]);
    expect(run.calls.get('Provision lab')).toEqual([
      {
        StateMachineArn: '${ProvisionLabStateMachineArn}',
        Name: 'nightly-2026-11-23-provision',
        Input: input,
      },
    ]);
  });

  it('does not provision when the teardown fails, and says so', async () => {
    const run = await runLocal(reset, input, {
      'Tear down lab': () => {
        throw taskError('States.TaskFailed', '{"Error":"Delete network failed: TimedOut"}');
      },
      'Provision lab': () => ({ Status: 'SUCCEEDED', Output: {} }),
      'Record reset failure': recorded,
    });

    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('Tear down lab failed: States.TaskFailed');
    expect(run.cause).toContain('Delete network failed');
    expect(run.calls.has('Provision lab')).toBe(false);
    expect(run.calls.get('Record reset failure')).toEqual([
      expect.objectContaining({ input, status: 'failed', executionName: 'run-1' }),
    ]);
  });
});

describe('provision-class, run locally', () => {
  const provisionClass = loadAsl('provision-class');
  const labs = ['cls-01', 'cls-02', 'cls-03', 'cls-04', 'cls-05'].map((labId) => ({
    labId,
    executionName: `${labId}-g1-provision-20300101000000-ab12`,
    input: { labId, policyMode: 'strict' },
  }));

  /** A provision-lab child that takes a moment, counting how many run at once. */
  function children(fail: string[] = []) {
    let running = 0;
    let peak = 0;
    const fake: FakeTask = async (params) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, 20));
      running--;
      const { labId } = params.Input as { labId: string };
      if (fail.includes(labId))
        throw taskError(
          'States.TaskFailed',
          `{"error":"Register agents failed: LabStepFailed","labId":"${labId}"}`,
        );
      return { Status: 'SUCCEEDED', Output: { labId, ok: true } };
    };
    return { fake, peak: () => peak };
  }

  it('provisions every lab under its recorded execution name, at most maxConcurrency at once', async () => {
    const child = children();
    const run = await runLocal(
      provisionClass,
      { classId: 'cls', maxConcurrency: 2, labs },
      { 'Provision lab': child.fake },
    );

    expect(run.error).toBeUndefined();
    expect(run.status).toBe('SUCCEEDED');
    expect(run.output).toEqual({
      classId: 'cls',
      labs: labs.map(({ labId }) => ({ labId, status: 'ready' })),
    });
    expect(run.calls.get('Provision lab')).toEqual(
      labs.map((lab) => ({
        StateMachineArn: '${ProvisionLabStateMachineArn}',
        Name: lab.executionName,
        Input: lab.input,
      })),
    );
    expect(child.peak()).toBe(2);
  });

  it('lets a failed lab not stop the others, then fails naming it', async () => {
    const child = children(['cls-02']);
    const run = await runLocal(
      provisionClass,
      { classId: 'cls', maxConcurrency: 5, labs },
      { 'Provision lab': child.fake },
    );

    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('Provision lab failed: SomeLabsFailed');
    const outcome = JSON.parse(run.cause!) as { labId: string; status: string; Error?: string }[];
    expect(outcome.map((lab) => [lab.labId, lab.status])).toEqual([
      ['cls-01', 'ready'],
      ['cls-02', 'failed'],
      ['cls-03', 'ready'],
      ['cls-04', 'ready'],
      ['cls-05', 'ready'],
    ]);
    expect(outcome[1]!.Error).toBe('Provision lab failed: States.TaskFailed');
    expect(run.calls.get('Provision lab')).toHaveLength(5);
  });
});
