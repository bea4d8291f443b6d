import './polyfills.js';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from 'aws-lambda';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { LAB_FUNCTIONS } from '../../infra/functions.js';
import {
  folderOfFunctionArn,
  loadDefinition,
  localStateMachineArn,
  LOCAL_SLEEP_RESOURCE,
  localizePathWaits,
  scalePauses,
  stateMachineOfArn,
  type StateMachineName,
} from './definitions.js';
import { LOCAL_STACK_NAME } from '../deployment/artifacts.js';
import { lambdaServiceFor, type LambdaService } from './lambda-service.js';
import type { VirtualTime } from './virtual-time.js';

/** A Lambda handler as the runner calls it: the deployed function's `handler` export. */
export type TaskHandler = (event: unknown, context: Context) => Promise<unknown>;
export type HandlerResolver = (folder: string) => Promise<TaskHandler>;

/**
 * What runs by default: each function's deployed bundle, under its own role, through the local
 * Lambda service of the emulator at AWS_ENDPOINT_URL (lambda-service.ts).
 */
async function defaultLambdaService(region: string): Promise<LambdaService> {
  const endpoint = process.env.AWS_ENDPOINT_URL;
  if (!endpoint) throw new Error('the local runner needs an emulator: set AWS_ENDPOINT_URL');
  return lambdaServiceFor(endpoint, region);
}

/** The deployed bundle of functions/<folder>, as the runner runs it by default: for wrapping in tests. */
export const deployedHandler: HandlerResolver = async (folder) =>
  (await defaultLambdaService(process.env.AWS_REGION ?? 'us-east-1')).resolveHandler(folder);

/** A Task's service integration its state machine's role does not allow, as Step Functions fails it. */
class IntegrationDenied extends Error {
  constructor(name: string, service: string, message: string) {
    super(`${message} (Service: ${service}, Status Code: 403, Error Code: AccessDeniedException)`);
    this.name = name;
  }
}

/** One recorded execution event, flattened for printing and for assertions. */
export interface ExecutionEvent {
  type: string;
  timestamp: number;
  state?: string;
  stateType?: string;
  error?: string;
  cause?: unknown;
  /**
   * The data the history shows: a state's input and output (ExecutionStarted's input,
   * ExecutionSucceeded's output) and, for `TaskScheduled` / `TaskSucceeded`, the Lambda's payload
   * and its whole answer before any ResultSelector, as Step Functions records them.
   */
  input?: unknown;
  output?: unknown;
  /** Which workflow emitted it (reset runs its children in-process). */
  stateMachine: StateMachineName;
}

export interface LocalRunOptions {
  input: unknown;
  /** The execution name, `$$.Execution.Name`; unique per run. */
  executionName?: string;
  region?: string;
  /** Real seconds per model second for Wait and Retry pauses (the emulator's time scale). */
  timeScale?: number;
  /**
   * Where the Lambda tasks run: by default the deployed bundles, through the local Lambda service of
   * the emulator at AWS_ENDPOINT_URL, with the state machine's role checked before each Task.
   * `resolveHandler` replaces it (in-process sources for the benchmark's virtual clock, fakes).
   */
  resolveHandler?: HandlerResolver;
  lambdaService?: LambdaService;
  onEvent?: (event: ExecutionEvent) => void;
  /**
   * Run on a virtual clock (the benchmark): pauses are model seconds slept on it (`timeScale` is
   * ignored), Lambda handlers are real work it waits for, and Retry back-offs are slept on it too.
   */
  virtualTime?: VirtualTime;
  /** Called after each Lambda invocation with its task folder and real (or virtual) start and end. */
  onInvoke?: (invocation: { state: string; folder: string; startedAt: number; endedAt: number }) => void;
}

export interface LocalRunResult {
  status: 'SUCCEEDED' | 'FAILED';
  executionName: string;
  output?: unknown;
  error?: string;
  cause?: string;
  events: ExecutionEvent[];
}

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

interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: 'FULL' | 'NONE';
}

/**
 * The pause (ms) Step Functions takes before retrying `errorName` under `retriers`, counting the
 * attempt in `attempts` (one counter per retrier, as the service keeps per state entry), or
 * undefined when the error is not retried. Mirrors aws-local-stepfunctions' own computation, for
 * runs where the runner sleeps the back-off itself.
 */
export function retryDelayMs(
  retriers: Retrier[],
  attempts: number[],
  errorName: string,
  random: () => number = Math.random,
): number | undefined {
  for (const [i, retrier] of retriers.entries()) {
    const matches = retrier.ErrorEquals.some(
      (name) =>
        name === errorName ||
        name === 'States.ALL' ||
        (name === 'States.TaskFailed' && errorName !== 'States.Timeout'),
    );
    if (!matches) continue;
    const done = attempts[i] ?? 0;
    if (done >= (retrier.MaxAttempts ?? 3)) return undefined;
    attempts[i] = done + 1;
    const interval = (retrier.IntervalSeconds ?? 1) * Math.pow(retrier.BackoffRate ?? 2, done);
    const capped = Math.min(interval, retrier.MaxDelaySeconds ?? Infinity) * 1000;
    return retrier.JitterStrategy === 'FULL' ? random() * capped : capped;
  }
  return undefined;
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

/** Definitions (as JSON) that passed validation in this process. */
const validatedDefinitions = new Set<string>();

/**
 * Runs one of the shipped workflows in-process with aws-local-stepfunctions: each Lambda task
 * calls its handler module directly, `startExecution.sync` tasks run the child workflow the same
 * way, pauses are scaled, and every event is recorded.
 */
export async function runLocally(name: StateMachineName, options: LocalRunOptions): Promise<LocalRunResult> {
  const region = options.region ?? process.env.AWS_REGION ?? 'us-east-1';
  return runDefinition(name, loadDefinition(name, region), options);
}

/** Runs a definition whose placeholders are already filled (`runLocally` loads the shipped ones). */
export async function runDefinition(
  name: StateMachineName,
  raw: unknown,
  options: LocalRunOptions,
): Promise<LocalRunResult> {
  const region = options.region ?? process.env.AWS_REGION ?? 'us-east-1';
  const virtual = options.virtualTime;
  const scale = virtual ? 1 : (options.timeScale ?? 0.001);
  // performance.now() keeps real time; on the virtual clock a Lambda's deadline must not.
  const clockNow = virtual ? () => virtual.now() : () => performance.now();
  // The Lambda service (deployed on first use) only when the run calls a function through it.
  let servicePromise: Promise<LambdaService> | undefined;
  const lambdaService = () =>
    (servicePromise ??= options.lambdaService
      ? Promise.resolve(options.lambdaService)
      : defaultLambdaService(region));
  const checksRoles = Boolean(options.lambdaService) || !options.resolveHandler;
  const resolveHandler: HandlerResolver =
    options.resolveHandler ?? (async (folder) => (await lambdaService()).resolveHandler(folder));
  const machineName = `${LOCAL_STACK_NAME}-${name}`;
  /** Step Functions calls a service with the state machine's role: a denial fails the Task. */
  const authorize = async (action: string, resourceArn: string, errorName: string, serviceName: string) => {
    if (!checksRoles) return;
    const decision = await (await lambdaService()).authorize(machineName, action, resourceArn);
    if (!decision.allowed) throw new IntegrationDenied(errorName, serviceName, decision.message);
  };
  const executionName = options.executionName ?? `${name}-${randomUUID()}`;
  const localized = localizePathWaits(scalePauses(raw, scale), undefined, { fixed: Boolean(virtual) });
  const definition = localized.definition as StateMachineDefinition;
  const events: ExecutionEvent[] = [];

  // Import every handler the definition names before the run, one at a time: concurrent dynamic
  // imports from Parallel branches race in Jest's ESM loader, and import time would otherwise show
  // up as the first steps' duration.
  const tasks = taskStates(definition);
  const loaded = new Map<string, TaskHandler>();
  for (const state of tasks.values()) {
    const functionName = (state.Parameters as { FunctionName?: unknown } | undefined)?.FunctionName;
    const folder = typeof functionName === 'string' ? folderOfFunctionArn(functionName) : undefined;
    if (folder && !loaded.has(folder)) loaded.set(folder, await resolveHandler(folder));
  }

  const handlers: Record<string, (input: unknown) => Promise<unknown>> = {};
  // On the virtual clock the runner sleeps Retry back-offs itself (the library's are set to 0).
  const retryOverrides: Record<string, number> = {};
  const retryAttempts = new Map<string, number[]>();
  const backoffs = new Map<string, number>();
  // Lambda invocations still running: a failed branch stops its Parallel's other branches, but an
  // invocation already running finishes (on AWS too); the run returns after it, so what the run
  // leaves behind is final when it returns (a teardown started then finds everything).
  const inFlight = new Set<Promise<unknown>>();
  for (const [stateName, state] of tasks) {
    if (virtual && Array.isArray(state.Retry)) retryOverrides[stateName] = 0;
    // The library times a Task (TimeoutSeconds, 60 s by default) with a real timer, which the
    // virtual clock cannot see: a heavily loaded run (200 labs on two cores) timed Tasks out in real
    // seconds while each had run for a minute of model time. On the virtual clock the function's own
    // Lambda timeout (middy, on that clock; below every Task's TimeoutSeconds, infra/stack.test.ts)
    // is what ends a hung invocation, as it does first on AWS.
    if (virtual) state.TimeoutSeconds = VIRTUAL_RUN_TASK_TIMEOUT_SECONDS;
    handlers[stateName] = async (params: unknown) => {
      const { FunctionName, Payload, StateMachineArn, Name, Input, seconds } = (params ?? {}) as Record<
        string,
        unknown
      >;
      if (state.Resource === LOCAL_SLEEP_RESOURCE) {
        if (virtual) await virtual.sleep(Number(seconds) * 1000);
        else await sleep(Number(seconds) * scale * 1000);
        return {};
      }
      const folder = typeof FunctionName === 'string' ? folderOfFunctionArn(FunctionName) : undefined;
      if (folder) {
        await authorize('lambda:InvokeFunction', String(FunctionName), 'Lambda.AWSLambdaException', 'Lambda');
        const handler = loaded.get(folder) ?? (await resolveHandler(folder));
        // The Task events Step Functions keeps: the invocation's payload, then the Lambda's whole
        // answer or its error.
        const record = (event: Pick<ExecutionEvent, 'type' | 'input' | 'output' | 'error' | 'cause'>) => {
          const full = {
            ...event,
            timestamp: Date.now(),
            state: stateName,
            stateType: 'Task',
            stateMachine: name,
          };
          events.push(full);
          options.onEvent?.(full);
        };
        const invoke = async () => {
          const startedAt = Date.now();
          record({ type: 'TaskScheduled', input: Payload ?? {} });
          const running = (async () => {
            try {
              const context = lambdaContext(folder, region, clockNow);
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
        };
        if (!virtual) return invoke();
        // A retry's back-off, decided when the previous attempt failed, is slept before it runs.
        const backoff = backoffs.get(stateName);
        if (backoff !== undefined) {
          backoffs.delete(stateName);
          await virtual.sleep(backoff);
        }
        try {
          const result = await virtual.busy(invoke, `${executionName} ${stateName}`);
          retryAttempts.delete(stateName);
          return result;
        } catch (err) {
          const attempts = retryAttempts.get(stateName) ?? [];
          const delay = retryDelayMs((state.Retry ?? []) as Retrier[], attempts, (err as Error).name);
          if (delay === undefined) retryAttempts.delete(stateName);
          else {
            retryAttempts.set(stateName, attempts);
            backoffs.set(stateName, delay);
          }
          throw err;
        }
      }
      const child = typeof StateMachineArn === 'string' ? stateMachineOfArn(StateMachineArn) : undefined;
      if (child) {
        if (checksRoles) {
          const { stack } = await lambdaService();
          const childArn =
            stack.stateMachines.get(`${LOCAL_STACK_NAME}-${child}`)?.arn ?? String(StateMachineArn);
          const denied = 'StepFunctions.AWSStepFunctionsException';
          await authorize('states:StartExecution', childArn, denied, 'AWSStepFunctions');
          // `.sync` follows the child through a managed EventBridge rule and DescribeExecution.
          const rule = `arn:aws:events:${region}:${stack.accountId}:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule`;
          for (const action of ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'])
            await authorize(action, rule, denied, 'AWSStepFunctions');
          const childExecution = `${childArn.replace(':stateMachine:', ':execution:')}:${String(Name ?? '')}`;
          await authorize('states:DescribeExecution', childExecution, denied, 'AWSStepFunctions');
        }
        const run = await runLocally(child, {
          ...options,
          input: typeof Input === 'string' ? JSON.parse(Input) : Input,
          executionName: typeof Name === 'string' ? Name : undefined,
          onEvent: (event) => {
            events.push(event);
            options.onEvent?.(event);
          },
        });
        if (run.status === 'FAILED')
          throw Object.assign(new Error(run.cause ?? ''), { name: run.error ?? 'States.TaskFailed' });
        return { Output: run.output, Status: 'SUCCEEDED', Name: run.executionName, StateMachineArn };
      }
      throw new Error(
        `state "${stateName}" calls ${String(state.Resource)}, which the local runner cannot run`,
      );
    };
  }
  // asl-validator compiles its JSON schemas on every validation (about a quarter of a second of
  // CPU) and a class's labs run the same few definitions: each is validated once per process.
  const key = JSON.stringify(definition);
  const machine = new StateMachine(definition, {
    validationOptions: { checkArn: false, noValidate: validatedDefinitions.has(key) },
  });
  validatedDefinitions.add(key);
  const execution = machine.run(options.input as never, {
    overrides: { taskResourceLocalHandlers: handlers as never, retryIntervalOverrides: retryOverrides },
    context: {
      Execution: {
        Id: `${localStateMachineArn(name, region).replace(':stateMachine:', ':execution:')}:${executionName}`,
        Name: executionName,
        Input: options.input as never,
        StartTime: new Date().toISOString(),
      },
      StateMachine: { Id: localStateMachineArn(name, region), Name: `session-lab-${name}` },
    },
  });
  const recording = (async () => {
    for await (const log of execution.eventLogs) {
      const entry = log as unknown as Record<string, unknown> & {
        state?: { name: string; type: string; input?: unknown; output?: unknown };
      };
      const event: ExecutionEvent = {
        type: String(entry.type),
        timestamp: Number(entry.timestamp),
        state: entry.state?.name,
        // A rewritten path Wait reports as the Wait it stands for.
        stateType: entry.state && localized.rewritten.has(entry.state.name) ? 'Wait' : entry.state?.type,
        error: typeof entry.Error === 'string' ? entry.Error : undefined,
        cause: entry.Cause,
        ...(entry.state ? { input: entry.state.input } : {}),
        ...(entry.state && 'output' in entry.state ? { output: entry.state.output } : {}),
        ...(entry.type === 'ExecutionStarted' ? { input: entry.input } : {}),
        ...(entry.type === 'ExecutionSucceeded' ? { output: entry.output } : {}),
        stateMachine: name,
      };
      virtual?.touch();
      events.push(event);
      options.onEvent?.(event);
    }
  })();
  try {
    const output = await execution.result;
    await recording;
    return { status: 'SUCCEEDED', executionName, output, events };
  } catch (err) {
    await recording.catch(() => undefined);
    await Promise.allSettled([...inFlight]);
    const failed = [...events].reverse().find((e) => e.type === 'ExecutionFailed');
    return {
      status: 'FAILED',
      executionName,
      error: failed?.error ?? (err as Error).name,
      cause: typeof failed?.cause === 'string' ? failed.cause : (err as Error).message,
      events,
    };
  }
}
