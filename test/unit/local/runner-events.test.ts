import { localFunctionArn } from '../../../local/runner/definitions.js';
import { runDefinition, type HandlerResolver } from '../../../local/runner/runner.js';

const fn = (folder: string) => localFunctionArn(folder, 'us-east-1');
const task = (folder: string, extra: Record<string, unknown>) => ({
  Type: 'Task',
  Resource: 'arn:aws:states:::lambda:invoke',
  Parameters: { FunctionName: fn(folder), 'Payload.$': '$' },
  ...extra,
});

describe('local runner: what the execution history records', () => {
  it('records each state’s input and output, and each Lambda’s payload and whole answer', async () => {
    const definition = {
      StartAt: 'Make thing',
      States: {
        'Make thing': task('make-thing', {
          ResultSelector: { 'id.$': '$.Payload.id' },
          ResultPath: '$.thing',
          End: true,
        }),
      },
    };
    const resolve: HandlerResolver = async () => async () => ({
      id: 't-1',
      extra: 'trimmed by ResultSelector',
    });
    const run = await runDefinition('provision-lab', definition, {
      input: { labId: 'x' },
      resolveHandler: resolve,
    });
    expect(run.status).toBe('SUCCEEDED');
    const byType = (type: string) => run.events.find((e) => e.type === type && e.state === 'Make thing');
    expect(byType('TaskScheduled')).toMatchObject({ stateType: 'Task', input: { labId: 'x' } });
    expect(byType('TaskSucceeded')).toMatchObject({
      output: { Payload: { id: 't-1', extra: 'trimmed by ResultSelector' } },
    });
    expect(byType('StateEntered')).toMatchObject({ input: { labId: 'x' } });
    expect(byType('StateExited')).toMatchObject({ output: { labId: 'x', thing: { id: 't-1' } } });
    expect(run.events.find((e) => e.type === 'ExecutionStarted')).toMatchObject({ input: { labId: 'x' } });
    expect(run.events.find((e) => e.type === 'ExecutionSucceeded')).toMatchObject({
      output: { labId: 'x', thing: { id: 't-1' } },
    });
  });

  it('records a Lambda’s error, and returns a failed run only once invocations still running have ended', async () => {
    const log: string[] = [];
    const definition = {
      StartAt: 'Both',
      States: {
        Both: {
          Type: 'Parallel',
          End: true,
          Branches: [
            { StartAt: 'Fail fast', States: { 'Fail fast': task('fail-fast', { End: true }) } },
            {
              StartAt: 'Slow',
              States: {
                Slow: task('slow', { Next: 'After slow' }),
                'After slow': task('after-slow', { End: true }),
              },
            },
          ],
        },
      },
    };
    const resolve: HandlerResolver = async (folder) => async () => {
      log.push(`${folder} started`);
      if (folder === 'fail-fast') throw Object.assign(new Error('boom'), { name: 'LabStepFailed' });
      await new Promise((r) => setTimeout(r, 300));
      log.push(`${folder} ended`);
      return {};
    };
    const run = await runDefinition('provision-lab', definition, { input: {}, resolveHandler: resolve });
    log.push('run returned');
    expect(run.status).toBe('FAILED');
    // The slow invocation, already running, finished before the run returned; the state after it never ran.
    expect(log).toEqual(['fail-fast started', 'slow started', 'slow ended', 'run returned']);
    expect(run.events.find((e) => e.type === 'TaskFailed')).toMatchObject({
      state: 'Fail fast',
      error: 'LabStepFailed',
      cause: JSON.stringify({ errorType: 'LabStepFailed', errorMessage: 'boom' }),
    });
  });
});
