import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from 'aws-lambda';
import { LAB_FUNCTIONS } from '../../infra/functions.js';
import {
  folderOfFunctionArn,
  LOCAL_SLEEP_RESOURCE,
  stateMachineOfArn,
  type StateMachineName,
} from './definitions.js';
import { VirtualBackoffs, type Retrier } from './retries.js';
import type { StateMachineRole } from './roles.js';
import type { HandlerResolver, TaskHandler } from './task-handler.js';
import type { ExecutionEvent, LocalRunOptions, LocalRunResult } from './types.js';
import type { VirtualTime } from './virtual-time.js';

/**
 * The Task states of a run, each as the local handler aws-local-stepfunctions calls: the local
 * sleep that stands for a path Wait, a Lambda invocation (`lambda:invoke`), or a child workflow
 * (`startExecution.sync`), each after the state machine's role allows it.
 */

/**
 * The error a real `lambda:invoke` task reports: `Error` is the thrown error's name and `Cause` the
 * JSON the Lambda runtime writes ({errorType, errorMessage}), so Retry/Catch and any state that
 * parses the cause behave the same locally and deployed.
 */
class LambdaFunctionError extends Error {
  constructor(err: unknown) {
    const errorType = err instanceof Error ? err.name : 'Error';
    const errorMessage = err instanceof Error ? err.message : String(err);
    super(JSON.stringify({ errorType, errorMessage }));
    this.name = errorType;
  }
}

/**
 * `now` is the clock the invocation's timeout runs on: the virtual one when the run is on it (its
 * Lambda's deadline is then in model time, as its waits are), else real time.
 */
function lambdaContext(folder: string, region: string, now: () => number): Context {
  const functionName = `session-lab-${folder}`;
  // The deployed function's timeout (middy ends a handler just before it, as Lambda would).
  const timeoutMs = (LAB_FUNCTIONS.find((f) => f.name === folder)?.timeoutSeconds ?? 60) * 1000;
  const startedAt = now();
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:123456789012:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, timeoutMs - (now() - startedAt)),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** Every Task state name in a definition, at any depth (overrides are keyed by state name). */
function taskStates(definition: unknown, found = new Map<string, Record<string, unknown>>()) {
  if (Array.isArray(definition)) definition.forEach((item) => taskStates(item, found));
  else if (definition && typeof definition === 'object') {
    const states = (definition as { States?: Record<string, Record<string, unknown>> }).States;
    for (const [name, state] of Object.entries(states ?? {}))
      if (state.Type === 'Task') found.set(name, state);
    Object.values(definition).forEach((value) => taskStates(value, found));
  }
  return found;
}

/** The library's real-time Task timeout on the virtual clock: never reached (below 2^31 ms). */
const VIRTUAL_RUN_TASK_TIMEOUT_SECONDS = 2_000_000;

export interface TaskRun {
  name: StateMachineName;
  region: string;
  executionName: string;
  options: LocalRunOptions;
  /** Real seconds per model second (1 on the virtual clock). */
  scale: number;
  virtual: VirtualTime | undefined;
  resolveHandler: HandlerResolver;
  role: StateMachineRole;
  /** Records an event of the run (and of its children). */
  record: (event: ExecutionEvent) => void;
  /** Runs a child workflow (`runLocally`). */
  runChild: (name: StateMachineName, options: LocalRunOptions) => Promise<LocalRunResult>;
}

export interface TaskIntegrations {
  handlers: Record<string, (input: unknown) => Promise<unknown>>;
  retryOverrides: Record<string, number>;
  /**
   * Lambda invocations still running: a failed branch stops its Parallel's other branches, but an
   * invocation already running finishes (on AWS too); the run returns after it, so what the run
   * leaves behind is final when it returns (a teardown started then finds everything).
   */
  inFlight: Set<Promise<unknown>>;
}

/**
 * The local handlers of every Task state in `definition`. Each Lambda handler the definition names
 * is imported first, one at a time: concurrent dynamic imports from Parallel branches race in
 * Jest's ESM loader, and import time would otherwise show up as the first steps' duration.
 */
export async function taskIntegrations(definition: unknown, run: TaskRun): Promise<TaskIntegrations> {
  const { virtual } = run;
  const tasks = taskStates(definition);
  const loaded = new Map<string, TaskHandler>();
  for (const state of tasks.values()) {
    const functionName = (state.Parameters as { FunctionName?: unknown } | undefined)?.FunctionName;
    const folder = typeof functionName === 'string' ? folderOfFunctionArn(functionName) : undefined;
    if (folder && !loaded.has(folder)) loaded.set(folder, await run.resolveHandler(folder));
  }
  const integrations: TaskIntegrations = { handlers: {}, retryOverrides: {}, inFlight: new Set() };
  const backoffs = virtual && new VirtualBackoffs(virtual);
  for (const [stateName, state] of tasks) {
    // On the virtual clock the runner sleeps Retry back-offs itself (the library's are set to 0).
    if (virtual && Array.isArray(state.Retry)) integrations.retryOverrides[stateName] = 0;
    // The library times a Task (TimeoutSeconds, 60 s by default) with a real timer, which the
    // virtual clock cannot see: a heavily loaded run (200 labs on two cores) timed Tasks out in real
    // seconds while each had run for a minute of model time. On the virtual clock the function's own
    // Lambda timeout (middy, on that clock; below every Task's TimeoutSeconds, infra/stack.test.ts)
    // is what ends a hung invocation, as it does first on AWS.
    if (virtual) state.TimeoutSeconds = VIRTUAL_RUN_TASK_TIMEOUT_SECONDS;
    integrations.handlers[stateName] = async (params: unknown) => {
      const { FunctionName, Payload, StateMachineArn, Name, Input, seconds } = (params ?? {}) as Record<
        string,
        unknown
      >;
      if (state.Resource === LOCAL_SLEEP_RESOURCE) {
        if (virtual) await virtual.sleep(Number(seconds) * 1000);
        else await sleep(Number(seconds) * run.scale * 1000);
        return {};
      }
      const folder = typeof FunctionName === 'string' ? folderOfFunctionArn(FunctionName) : undefined;
      if (folder) {
        await run.role.mayInvoke(String(FunctionName));
        const handler = loaded.get(folder) ?? (await run.resolveHandler(folder));
        const invoke = () => invokeLambda(run, integrations.inFlight, stateName, folder, handler, Payload);
        if (!backoffs) return invoke();
        return backoffs.attempt(
          stateName,
          (state.Retry ?? []) as Retrier[],
          `${run.executionName} ${stateName}`,
          invoke,
        );
      }
      const child = typeof StateMachineArn === 'string' ? stateMachineOfArn(StateMachineArn) : undefined;
      if (child) return runChildExecution(run, child, { StateMachineArn, Name, Input });
      throw new Error(
        `state "${stateName}" calls ${String(state.Resource)}, which the local runner cannot run`,
      );
    };
  }
  return integrations;
}

/**
 * One `lambda:invoke`: the Task events Step Functions keeps (the invocation's payload, then the
 * Lambda's whole answer or its error), with the Lambda's context on the run's clock.
 */
function invokeLambda(
  run: TaskRun,
  inFlight: Set<Promise<unknown>>,
  stateName: string,
  folder: string,
  handler: TaskHandler,
  Payload: unknown,
): Promise<{ Payload: unknown }> {
  const { options, virtual } = run;
  // performance.now() keeps real time; on the virtual clock a Lambda's deadline must not.
  const clockNow = virtual ? () => virtual.now() : () => performance.now();
  const record = (event: Pick<ExecutionEvent, 'type' | 'input' | 'output' | 'error' | 'cause'>) =>
    run.record({
      ...event,
      timestamp: Date.now(),
      state: stateName,
      stateType: 'Task',
      stateMachine: run.name,
    });
  const startedAt = Date.now();
  record({ type: 'TaskScheduled', input: Payload ?? {} });
  const running = (async () => {
    try {
      const context = lambdaContext(folder, run.region, clockNow);
      const result = {
        Payload: await handler(Payload ?? {}, context),
      };
      record({ type: 'TaskSucceeded', output: result });
      return result;
    } catch (err) {
      const failure = new LambdaFunctionError(err);
      record({ type: 'TaskFailed', error: failure.name, cause: failure.message });
      throw failure;
    } finally {
      options.onInvoke?.({ state: stateName, folder, startedAt, endedAt: Date.now() });
    }
  })();
  inFlight.add(running);
  void running.catch(() => undefined).finally(() => inFlight.delete(running));
  return running;
}

/** `startExecution.sync`: the child workflow runs in-process, its events recorded with the run's. */
async function runChildExecution(
  run: TaskRun,
  child: StateMachineName,
  { StateMachineArn, Name, Input }: Record<string, unknown>,
) {
  await run.role.mayRunChild(child, StateMachineArn, Name);
  const result = await run.runChild(child, {
    ...run.options,
    input: typeof Input === 'string' ? JSON.parse(Input) : Input,
    executionName: typeof Name === 'string' ? Name : undefined,
    onEvent: run.record,
  });
  if (result.status === 'FAILED')
    throw Object.assign(new Error(result.cause ?? ''), { name: result.error ?? 'States.TaskFailed' });
  return { Output: result.output, Status: 'SUCCEEDED', Name: result.executionName, StateMachineArn };
}
