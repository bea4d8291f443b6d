import { randomUUID } from 'node:crypto';
import type { EmulatorContext, OperationHandler } from '../context.js';
import { AwsError, type AwsCall } from '../protocol.js';

/**
 * Step Functions executions of the local deployment's state machines: StartExecution,
 * DescribeExecution and ListExecutions, served from one store so that what the deployed route
 * functions start can be read back as on AWS. The emulator runs no workflow itself: an executor
 * given from outside (`session-lab serve` gives the local runner) runs each execution, and
 * declares which state machines exist. moto's own Step Functions is never reached for these.
 */

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

/** What the executor is handed: one execution, started once. */
export interface StartedExecution {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  /** The input, parsed (StartExecution refuses input that is not JSON). */
  input: unknown;
}

export interface ExecutionOutcome {
  status: Exclude<ExecutionStatus, 'RUNNING'>;
  output?: unknown;
  error?: string;
  cause?: string;
}

export interface ExecutionExecutor {
  /** Whether `stateMachineArn` is a state machine it runs; any other does not exist. */
  runs(stateMachineArn: string): boolean;
  /** Runs the execution to its end. A rejection is recorded as a failed execution. */
  run(execution: StartedExecution): Promise<ExecutionOutcome>;
}

interface Execution {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  /** The input as given: a restart is the same start only with exactly this input. */
  input: string;
  status: ExecutionStatus;
  startDate: Date;
  stopDate?: Date;
  output?: string;
  error?: string;
  cause?: string;
}

interface Store {
  executor?: ExecutionExecutor;
  executions: Map<string, Execution>;
}

const storeOf = (ctx: EmulatorContext) =>
  ctx.slice<Store>('step-functions', () => ({ executions: new Map() }));

/** Gives the emulator the executor of its executions (undefined: none, StartExecution refuses). */
export function setExecutionExecutor(ctx: EmulatorContext, executor: ExecutionExecutor | undefined): void {
  storeOf(ctx).executor = executor;
}

const STATE_MACHINE_ARN = /^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[^:]+$/;
const EXECUTION_ARN = /^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[^:]+:[^:]+$/;
/**
 * What an execution name may not contain, as Step Functions documents it: whitespace, brackets,
 * wildcards, the special characters " # % \ ^ | ~ ` $ & , ; : / and control characters.
 */
// eslint-disable-next-line no-control-regex
const FORBIDDEN_IN_NAME = /[\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]/;
/** The largest input StartExecution accepts, in bytes (256 KiB). */
const MAX_INPUT_BYTES = 262_144;
const MAX_RESULTS = 1000;

const seconds = (date: Date) => date.getTime() / 1000;

function requiredArn(call: AwsCall, field: string, pattern: RegExp): string {
  const value = call.input[field];
  if (typeof value !== 'string' || !pattern.test(value))
    throw new AwsError('InvalidArn', `Invalid Arn: '${String(value ?? '')}'`);
  return value;
}

/** The state machine the call names, which the executor must run. */
function stateMachine(call: AwsCall, ctx: EmulatorContext): string {
  const arn = requiredArn(call, 'stateMachineArn', STATE_MACHINE_ARN);
  const { executor } = storeOf(ctx);
  if (!executor)
    throw new AwsError(
      'StateMachineDoesNotExist',
      `State Machine Does Not Exist: '${arn}' (this emulator runs no state machine: nothing registered an executor of executions, as session-lab serve does)`,
    );
  if (!executor.runs(arn))
    throw new AwsError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${arn}'`);
  return arn;
}

function executionName(call: AwsCall): string {
  const name = call.input.name;
  if (name === undefined) return randomUUID();
  if (typeof name !== 'string' || name.length < 1 || name.length > 80 || FORBIDDEN_IN_NAME.test(name))
    throw new AwsError('InvalidName', `Invalid Name: '${String(name)}'`);
  return name;
}

function executionInput(call: AwsCall): { text: string; parsed: unknown } {
  const text = call.input.input === undefined ? '{}' : call.input.input;
  if (typeof text !== 'string')
    throw new AwsError('InvalidExecutionInput', 'Invalid State Machine Execution Input');
  if (Buffer.byteLength(text) > MAX_INPUT_BYTES)
    throw new AwsError(
      'ValidationException',
      `1 validation error detected: Value at 'input' failed to satisfy constraint: Member must have length less than or equal to ${MAX_INPUT_BYTES}`,
    );
  try {
    return { text, parsed: JSON.parse(text) };
  } catch (err) {
    throw new AwsError(
      'InvalidExecutionInput',
      `Invalid State Machine Execution Input: '${(err as Error).message}'`,
    );
  }
}

/** Runs the execution in the background and records how it ended. */
function execute(executor: ExecutionExecutor, execution: Execution, input: unknown): void {
  const { executionArn, stateMachineArn, name } = execution;
  void executor
    .run({ executionArn, stateMachineArn, name, input })
    .catch((err: Error): ExecutionOutcome => ({ status: 'FAILED', error: err.name, cause: err.message }))
    .then((outcome) => {
      execution.status = outcome.status;
      execution.stopDate = new Date();
      if (outcome.output !== undefined) execution.output = JSON.stringify(outcome.output);
      execution.error = outcome.error;
      execution.cause = outcome.cause;
    });
}

function summary(execution: Execution) {
  return {
    executionArn: execution.executionArn,
    stateMachineArn: execution.stateMachineArn,
    name: execution.name,
    status: execution.status,
    startDate: seconds(execution.startDate),
    ...(execution.stopDate ? { stopDate: seconds(execution.stopDate) } : {}),
  };
}

export const stepFunctions: Record<string, OperationHandler> = {
  /**
   * Idempotent as Step Functions is: the same name and input while the execution runs answer the
   * first start; a closed execution or another input under the name is ExecutionAlreadyExists.
   */
  async StartExecution(call, ctx) {
    const stateMachineArn = stateMachine(call, ctx);
    const name = executionName(call);
    const input = executionInput(call);
    const store = storeOf(ctx);
    const executionArn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
    const known = store.executions.get(executionArn);
    if (known) {
      if (known.status === 'RUNNING' && known.input === input.text)
        return { executionArn, startDate: seconds(known.startDate) };
      throw new AwsError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
    }
    const execution: Execution = {
      executionArn,
      stateMachineArn,
      name,
      input: input.text,
      status: 'RUNNING',
      startDate: new Date(),
    };
    store.executions.set(executionArn, execution);
    execute(store.executor!, execution, input.parsed);
    return { executionArn, startDate: seconds(execution.startDate) };
  },

  async DescribeExecution(call, ctx) {
    const arn = requiredArn(call, 'executionArn', EXECUTION_ARN);
    const execution = storeOf(ctx).executions.get(arn);
    if (!execution) throw new AwsError('ExecutionDoesNotExist', `Execution Does Not Exist: '${arn}'`);
    return {
      ...summary(execution),
      input: execution.input,
      inputDetails: { included: true },
      ...(execution.output !== undefined
        ? { output: execution.output, outputDetails: { included: true } }
        : {}),
      ...(execution.error !== undefined ? { error: execution.error } : {}),
      ...(execution.cause !== undefined ? { cause: execution.cause } : {}),
    };
  },

  /** Newest first, as Step Functions lists them; `statusFilter` keeps one status. */
  async ListExecutions(call, ctx) {
    const arn = stateMachine(call, ctx);
    const filter = call.input.statusFilter as ExecutionStatus | undefined;
    const max = Number(call.input.maxResults ?? 0) || 100;
    if (max < 0 || max > MAX_RESULTS)
      throw new AwsError('ValidationException', `maxResults: must be from 0 to ${MAX_RESULTS}`);
    const matching = [...storeOf(ctx).executions.values()]
      .filter((e) => e.stateMachineArn === arn && (!filter || e.status === filter))
      .reverse();
    const from = call.input.nextToken ? Number(call.input.nextToken) : 0;
    if (!Number.isInteger(from) || from < 0 || from > matching.length)
      throw new AwsError('InvalidToken', `Invalid Token: '${String(call.input.nextToken)}'`);
    const page = matching.slice(from, from + max);
    const next = from + page.length;
    return {
      executions: page.map(summary),
      ...(next < matching.length ? { nextToken: String(next) } : {}),
    };
  },
};
