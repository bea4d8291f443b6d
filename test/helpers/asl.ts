import { readFileSync } from 'node:fs';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { definitionPath } from '../../infra/asl.js';
import type { StateMachineName } from '../../infra/functions.js';

/**
 * Reading the shipped workflow files and running them with aws-local-stepfunctions and fake task
 * handlers, for the state-machine unit tests.
 */

export type State = Record<string, unknown> & { Type: string };
export interface Definition {
  StartAt: string;
  States: Record<string, State>;
  [key: string]: unknown;
}

export const loadAsl = (name: StateMachineName): Definition =>
  JSON.parse(readFileSync(definitionPath(name), 'utf8')) as Definition;

/** Every state at any depth (Parallel branches, Map item processors), with the `States` object (the scope) it belongs to. */
export function allStates(definition: Definition): { name: string; state: State; scope: Definition }[] {
  const found: { name: string; state: State; scope: Definition }[] = [];
  const walk = (scope: Definition) => {
    for (const [name, state] of Object.entries(scope.States)) {
      found.push({ name, state, scope });
      for (const branch of (state.Branches as Definition[] | undefined) ?? []) walk(branch);
      const processor = (state.ItemProcessor ?? state.Iterator) as Definition | undefined;
      if (processor) walk(processor);
    }
  };
  walk(definition);
  return found;
}

export const LAMBDA_INVOKE = 'arn:aws:states:::lambda:invoke';

/** The Lambda Task states: name, state, and the function folder its placeholder names. */
export function lambdaTasks(definition: Definition) {
  return allStates(definition)
    .filter(({ state }) => state.Type === 'Task' && state.Resource === LAMBDA_INVOKE)
    .map(({ name, state, scope }) => {
      const functionName = (state.Parameters as { FunctionName?: string }).FunctionName ?? '';
      const stem = /^\$\{([A-Za-z0-9]+)FunctionArn\}$/.exec(functionName)?.[1];
      const folder = stem?.replace(/(?<!^)([A-Z])/g, '-$1').toLowerCase();
      return { name, state, scope, functionName, folder };
    });
}

// aws-local-stepfunctions 3 calls Promise.withResolvers, which Node 20 lacks.
const promiseStatics = Promise as unknown as { withResolvers?: () => unknown };
if (!promiseStatics.withResolvers) {
  promiseStatics.withResolvers = function withResolvers<T>() {
    let resolve!: (value: T) => void;
    let reject!: (reason?: unknown) => void;
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

/** An error as a Lambda task reports it to Step Functions: `Error` is its name. */
export const taskError = (name: string, message = name): Error => Object.assign(new Error(message), { name });

/** A fake task: gets the Payload, returns the task's output (or throws). */
export type FakeTask = (payload: Record<string, unknown>, call: number) => unknown;

export interface LocalRun {
  status: 'SUCCEEDED' | 'FAILED';
  output?: unknown;
  error?: string;
  cause?: string;
  /** Payloads each Task state received, in order, by state name. */
  calls: Map<string, unknown[]>;
  /** Task parameters other than Lambda payloads (startExecution), by state name. */
  entered: string[];
  retried: string[];
}

/**
 * Runs a workflow file locally with every Task state answered by `tasks[stateName]`: a
 * `lambda:invoke` fake gets the Payload and its return becomes `{ Payload }`, as the optimized
 * integration returns it; any other Task fake gets the resolved Parameters. Waits and retry pauses
 * take no time. A Task with no fake fails the test.
 */
export async function runLocal(
  definition: Definition,
  input: unknown,
  tasks: Record<string, FakeTask>,
  executionName = 'run-1',
): Promise<LocalRun> {
  const calls = new Map<string, unknown[]>();
  const handlers: Record<string, (params: unknown) => Promise<unknown>> = {};
  const waits: Record<string, number> = {};
  const retries: Record<string, number> = {};
  for (const { name, state } of allStates(definition)) {
    if (state.Type === 'Wait') waits[name] = 0;
    if (state.Type !== 'Task') continue;
    retries[name] = 0;
    handlers[name] = async (params) => {
      const fake = tasks[name];
      if (!fake) throw new Error(`no fake for task state "${name}"`);
      const isLambda = state.Resource === LAMBDA_INVOKE;
      const received = isLambda ? (params as { Payload: unknown }).Payload : params;
      const seen = calls.get(name) ?? [];
      seen.push(received);
      calls.set(name, seen);
      const result = await fake(received as Record<string, unknown>, seen.length);
      return isLambda ? { Payload: result } : result;
    };
  }
  const machine = new StateMachine(definition as unknown as StateMachineDefinition, {
    validationOptions: { checkArn: true, checkPaths: true },
  });
  const execution = machine.run(input as never, {
    overrides: {
      taskResourceLocalHandlers: handlers as never,
      waitTimeOverrides: waits,
      retryIntervalOverrides: retries,
    },
    context: {
      Execution: {
        Id: `arn:aws:states:us-east-1:123456789012:execution:test:${executionName}`,
        Name: executionName,
      },
    },
  });
  const entered: string[] = [];
  const retried: string[] = [];
  let failure: { Error?: string; Cause?: unknown } | undefined;
  const recording = (async () => {
    for await (const event of execution.eventLogs) {
      const named = event as { type: string; state?: { name: string }; Error?: string; Cause?: unknown };
      if (named.type === 'StateEntered' && named.state) entered.push(named.state.name);
      if (named.type === 'StateRetried' && named.state) retried.push(named.state.name);
      if (named.type === 'ExecutionFailed') failure = named;
    }
  })();
  try {
    const output = await execution.result;
    await recording;
    return { status: 'SUCCEEDED', output, calls, entered, retried };
  } catch (err) {
    await recording.catch(() => undefined);
    return {
      status: 'FAILED',
      error: failure?.Error ?? (err as Error).name,
      cause:
        typeof failure?.Cause === 'string' ? failure.Cause : String(failure?.Cause ?? (err as Error).message),
      calls,
      entered,
      retried,
    };
  }
}
