import { runDefinition, runLocally, type HandlerResolver } from '../../../local/runner/runner.js';
import { kebabCase, localFunctionArn, pascalCase, scalePauses } from '../../../local/runner/definitions.js';
import { NotReadyYet } from '../../../functions/shared/errors.js';

const fn = (folder: string) => localFunctionArn(folder, 'us-east-1');

/** A poll loop like the lab's: a task that is not ready twice, a Wait, a Choice, a failure catcher. */
const definition = {
  StartAt: 'Start thing',
  States: {
    'Start thing': {
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke',
      Parameters: { FunctionName: fn('start-thing'), 'Payload.$': '$' },
      ResultSelector: { 'started.$': '$.Payload.started' },
      ResultPath: '$.start',
      Retry: [{ ErrorEquals: ['NotReadyYet'], IntervalSeconds: 5, MaxAttempts: 3, BackoffRate: 2 }],
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'Record failure' }],
      Next: 'Wait for thing',
    },
    'Wait for thing': { Type: 'Wait', Seconds: 30, Next: 'Poll thing' },
    'Poll thing': {
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke',
      Parameters: { FunctionName: fn('poll-thing'), 'Payload.$': '$' },
      ResultSelector: { 'ready.$': '$.Payload.ready' },
      ResultPath: '$.poll',
      Next: 'Thing ready?',
    },
    'Thing ready?': {
      Type: 'Choice',
      Choices: [{ Variable: '$.poll.ready', BooleanEquals: true, Next: 'Done' }],
      Default: 'Wait for thing',
    },
    Done: { Type: 'Succeed' },
    'Record failure': {
      Type: 'Pass',
      Parameters: { 'step.$': '$.failure.Error', 'cause.$': 'States.StringToJson($.failure.Cause)' },
      Next: 'Failed',
    },
    Failed: { Type: 'Fail', ErrorPath: '$.step', CausePath: '$.cause.errorMessage' },
  },
};

function resolver(behaviour: Record<string, (event: unknown) => Promise<unknown>>): HandlerResolver {
  return async (folder) => async (event) => behaviour[folder]!(event);
}

/** When the fake registry's holdings began. */
const SINCE = '2026-12-04T10:00:00.000Z';

describe('local runner', () => {
  it('runs Lambda tasks in-process, retries their named errors and loops on Wait until ready', async () => {
    let startCalls = 0;
    let polls = 0;
    const result = await runDefinition('provision-lab', definition, {
      input: { labId: 'demo' },
      timeScale: 0.0001,
      resolveHandler: resolver({
        'start-thing': async () => {
          startCalls += 1;
          if (startCalls < 3) throw new NotReadyYet('not yet');
          return { started: true };
        },
        'poll-thing': async () => ({ ready: ++polls === 3 }),
      }),
    });
    expect(result.status).toBe('SUCCEEDED');
    expect(startCalls).toBe(3);
    expect(polls).toBe(3);
    expect(result.events.filter((e) => e.type === 'StateRetried' && e.state === 'Start thing')).toHaveLength(
      2,
    );
    expect(
      result.events.filter((e) => e.type === 'StateEntered' && e.state === 'Wait for thing'),
    ).toHaveLength(3);
  });

  it('reports a task error like a deployed Lambda: name as Error, runtime JSON as Cause', async () => {
    const result = await runDefinition('provision-lab', definition, {
      input: {},
      timeScale: 0.0001,
      resolveHandler: resolver({
        'start-thing': async () => {
          throw Object.assign(new Error('the profile is broken'), { name: 'LabStepFailed' });
        },
        'poll-thing': async () => ({ ready: true }),
      }),
    });
    expect(result).toMatchObject({
      status: 'FAILED',
      error: 'LabStepFailed',
      cause: 'the profile is broken',
    });
  });

  it('passes the execution name as $$.Execution.Name', async () => {
    const seen: unknown[] = [];
    const echo = {
      StartAt: 'Echo',
      States: {
        Echo: {
          Type: 'Task',
          Resource: 'arn:aws:states:::lambda:invoke',
          Parameters: { FunctionName: fn('echo'), Payload: { 'runId.$': '$$.Execution.Name' } },
          End: true,
        },
      },
    };
    await runDefinition('provision-lab', echo, {
      input: {},
      executionName: 'demo-g1',
      resolveHandler: resolver({ echo: async (event) => seen.push(event) }),
    });
    expect(seen).toEqual([{ runId: 'demo-g1' }]);
  });
});

describe('definitions', () => {
  it('maps function folders to placeholder stems and back', () => {
    expect(pascalCase('create-instance-role')).toBe('CreateInstanceRole');
    expect(kebabCase('CreateInstanceRole')).toBe('create-instance-role');
  });

  it('scales every pause and keeps the backoff rate', () => {
    expect(
      scalePauses(
        { Seconds: 30, Retry: [{ IntervalSeconds: 2, MaxDelaySeconds: 60, BackoffRate: 2 }] },
        0.01,
      ),
    ).toEqual({ Seconds: 0.3, Retry: [{ IntervalSeconds: 0.02, MaxDelaySeconds: 0.6, BackoffRate: 2 }] });
  });
});

describe('waits read from state', () => {
  it('pause for the path value scaled, and report as Wait states', async () => {
    const backoff = {
      StartAt: 'Pick pause',
      States: {
        'Pick pause': { Type: 'Pass', Result: { seconds: 200 }, ResultPath: '$.pause', Next: 'Pause' },
        Pause: { Type: 'Wait', SecondsPath: '$.pause.seconds', Next: 'Done' },
        Done: { Type: 'Succeed' },
      },
    };
    const started = Date.now();
    const result = await runDefinition('provision-lab', backoff, { input: {}, timeScale: 0.001 });
    const elapsed = Date.now() - started;
    expect(result.status).toBe('SUCCEEDED');
    // 200 s at 0.001 = 200 ms: paused for the scaled value, not skipped and not a full second.
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(result.events.find((e) => e.state === 'Pause' && e.type === 'StateEntered')?.stateType).toBe(
      'Wait',
    );
  });
});

describe('provision-class, run locally', () => {
  /** Every provision-lab task answering at once (a lab with nothing to wait for), counting labs in flight. */
  function provisionFakes(failing: string[] = []) {
    const recorded: { labId: string; status: string; executionName: string }[] = [];
    let inFlight = 0;
    let peak = 0;
    const answer = (value: unknown) => async () => value;
    const behaviour: Record<string, (event: unknown) => Promise<unknown>> = {
      'validate-lab-input': async (event) => {
        const { input, runId } = event as { input: { labId: string }; runId: string };
        inFlight += 1;
        peak = Math.max(peak, inFlight);
        return { ...input, runId, policyMode: 'strict' };
      },
      'record-lab-status': async (event) => {
        const { labId, status, executionName, input } = event as Record<string, unknown>;
        const id = (labId ?? (input as { labId: string }).labId) as string;
        recorded.push({ labId: id, status: status as string, executionName: executionName as string });
        if (status !== 'provisioning') inFlight -= 1;
        return { labId: id, status, recorded: true };
      },
      'acquire-shared-resources': answer({
        mustCreate: { advancedTier: false, preferences: false, logGroup: false, sharedRoles: false },
        heldSince: { advancedTier: SINCE, preferences: SINCE, logGroup: SINCE, sharedRoles: SINCE },
      }),
      'wait-for-advanced-tier': answer({ ready: true, value: 'advanced', status: 'Customized' }),
      'create-instance-role': answer({ instanceProfileName: 'SSMLabProfile' }),
      'create-service-role': answer({ serviceRoleName: 'SSMServiceRole' }),
      'create-activations': answer({ activations: [] }),
      'create-key-pair': answer({ keyName: 'k', privateKeyParameter: '/session-lab/x/key' }),
      'create-network': answer({ vpcId: 'vpc-1' }),
      'launch-instances': answer({ instances: [] }),
      'wait-for-instances': answer({ ready: true, pending: [] }),
      'register-agents': answer({ commandId: null, bootstrapInstanceId: 'i-1' }),
      'wait-for-registration': answer({ ready: true, pending: [], nodes: [] }),
      'close-bootstrap-access': answer({ closed: true }),
      'configure-session-logging': answer({ logGroupName: 'SSM-Logs' }),
      'create-workshop-user': answer({ userName: 'u' }),
      'verify-lab': async (event) => {
        const { labId } = (event as { lab: { labId: string } }).lab;
        await new Promise((resolve) => setTimeout(resolve, 20));
        if (failing.includes(labId)) throw Object.assign(new Error('matrix'), { name: 'LabStateMismatch' });
        return { labId, ok: true };
      },
    };
    return { resolveHandler: resolver(behaviour), recorded, peak: () => peak };
  }
  const labs = ['c-01', 'c-02', 'c-03', 'c-04'].map((labId) => ({
    labId,
    executionName: `${labId}-g1-provision-20300101000000-ab12`,
    input: { labId },
  }));

  it('runs the shipped provision-lab as each lab’s child, under its recorded name, at most maxConcurrency at once', async () => {
    const fakes = provisionFakes();
    const result = await runLocally('provision-class', {
      input: { classId: 'c', maxConcurrency: 2, labs },
      executionName: 'c-class-1',
      timeScale: 0.0001,
      resolveHandler: fakes.resolveHandler,
    });
    expect(result.error).toBeUndefined();
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toEqual({
      classId: 'c',
      labs: labs.map(({ labId }) => ({ labId, status: 'ready' })),
    });
    // Each child recorded its lab under the name the registry holds for it.
    for (const { labId, executionName } of labs) {
      expect(fakes.recorded.filter((r) => r.labId === labId)).toEqual([
        { labId, status: 'provisioning', executionName },
        { labId, status: 'ready', executionName },
      ]);
    }
    expect(fakes.peak()).toBe(2);
    expect(new Set(result.events.map((e) => e.stateMachine))).toEqual(
      new Set(['provision-class', 'provision-lab']),
    );
  });

  it('lets a failed lab fail alone: recorded by its own execution, the class failing at the end', async () => {
    const fakes = provisionFakes(['c-03']);
    const result = await runLocally('provision-class', {
      input: { classId: 'c', maxConcurrency: 4, labs },
      timeScale: 0.0001,
      resolveHandler: fakes.resolveHandler,
    });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('Provision lab failed: SomeLabsFailed');
    expect(fakes.recorded.filter((r) => r.status === 'failed').map((r) => r.labId)).toEqual(['c-03']);
    expect(
      fakes.recorded
        .filter((r) => r.status === 'ready')
        .map((r) => r.labId)
        .sort(),
    ).toEqual(['c-01', 'c-02', 'c-04']);
  });
});
