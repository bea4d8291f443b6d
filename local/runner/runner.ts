import './polyfills.js';
import { randomUUID } from 'node:crypto';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import {
  loadDefinition,
  localStateMachineArn,
  localizePathWaits,
  scalePauses,
  type StateMachineName,
} from './definitions.js';
import { lambdaServiceFor, type LambdaService } from './lambda-service.js';
import { StateMachineRole } from './roles.js';
import { taskIntegrations, type TaskIntegrations } from './task-integrations.js';
import type { HandlerResolver } from './task-handler.js';
import type { ExecutionEvent, LocalRunOptions, LocalRunResult } from './types.js';
import type { VirtualTime } from './virtual-time.js';

export { retryDelayMs } from './retries.js';
export type { HandlerResolver, TaskHandler } from './task-handler.js';
export type { ExecutionEvent, LocalRunOptions, LocalRunResult } from './types.js';

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
  // The Lambda service (deployed on first use) only when the run calls a function through it.
  let servicePromise: Promise<LambdaService> | undefined;
  const lambdaService = () =>
    (servicePromise ??= options.lambdaService
      ? Promise.resolve(options.lambdaService)
      : defaultLambdaService(region));
  const executionName = options.executionName ?? `${name}-${randomUUID()}`;
  const localized = localizePathWaits(scalePauses(raw, scale), undefined, { fixed: Boolean(virtual) });
  const definition = localized.definition as StateMachineDefinition;
  const events: ExecutionEvent[] = [];
  const record = (event: ExecutionEvent) => {
    events.push(event);
    options.onEvent?.(event);
  };

  const tasks = await taskIntegrations(definition, {
    name,
    region,
    executionName,
    options,
    scale,
    virtual,
    resolveHandler:
      options.resolveHandler ?? (async (folder) => (await lambdaService()).resolveHandler(folder)),
    role: new StateMachineRole(
      name,
      region,
      Boolean(options.lambdaService) || !options.resolveHandler,
      lambdaService,
    ),
    record,
    runChild: runLocally,
  });
  const execution = startExecution(name, region, definition, executionName, options.input, tasks);
  const recording = recordEvents(execution.eventLogs, name, localized.rewritten, virtual, record);
  try {
    const output = await execution.result;
    await recording;
    return { status: 'SUCCEEDED', executionName, output, events };
  } catch (err) {
    await recording.catch(() => undefined);
    await Promise.allSettled([...tasks.inFlight]);
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

/** Starts the execution on aws-local-stepfunctions with the run's Task handlers and `$$` context. */
function startExecution(
  name: StateMachineName,
  region: string,
  definition: StateMachineDefinition,
  executionName: string,
  input: unknown,
  tasks: TaskIntegrations,
) {
  // asl-validator compiles its JSON schemas on every validation (about a quarter of a second of
  // CPU) and a class's labs run the same few definitions: each is validated once per process.
  const key = JSON.stringify(definition);
  const machine = new StateMachine(definition, {
    validationOptions: { checkArn: false, noValidate: validatedDefinitions.has(key) },
  });
  validatedDefinitions.add(key);
  return machine.run(input as never, {
    overrides: {
      taskResourceLocalHandlers: tasks.handlers as never,
      retryIntervalOverrides: tasks.retryOverrides,
    },
    context: {
      Execution: {
        Id: `${localStateMachineArn(name, region).replace(':stateMachine:', ':execution:')}:${executionName}`,
        Name: executionName,
        Input: input as never,
        StartTime: new Date().toISOString(),
      },
      StateMachine: { Id: localStateMachineArn(name, region), Name: `session-lab-${name}` },
    },
  });
}

/** Records the library's event log as the run's execution events, until the execution ends. */
async function recordEvents(
  eventLogs: AsyncIterable<unknown>,
  name: StateMachineName,
  rewritten: Set<string>,
  virtual: VirtualTime | undefined,
  record: (event: ExecutionEvent) => void,
): Promise<void> {
  for await (const log of eventLogs) {
    const entry = log as Record<string, unknown> & {
      state?: { name: string; type: string; input?: unknown; output?: unknown };
    };
    virtual?.touch();
    record({
      type: String(entry.type),
      timestamp: Number(entry.timestamp),
      state: entry.state?.name,
      // A rewritten path Wait reports as the Wait it stands for.
      stateType: entry.state && rewritten.has(entry.state.name) ? 'Wait' : entry.state?.type,
      error: typeof entry.Error === 'string' ? entry.Error : undefined,
      cause: entry.Cause,
      ...(entry.state ? { input: entry.state.input } : {}),
      ...(entry.state && 'output' in entry.state ? { output: entry.state.output } : {}),
      ...(entry.type === 'ExecutionStarted' ? { input: entry.input } : {}),
      ...(entry.type === 'ExecutionSucceeded' ? { output: entry.output } : {}),
      stateMachine: name,
    });
  }
}
