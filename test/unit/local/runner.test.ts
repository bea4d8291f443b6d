import { runDefinition, type HandlerResolver } from '../../../local/runner/runner.js';
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
