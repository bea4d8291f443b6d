import type { StateMachineName } from './definitions.js';
import type { LambdaService } from './lambda-service.js';
import type { HandlerResolver } from './task-handler.js';
import type { VirtualTime } from './virtual-time.js';

/** What a local run of a workflow takes, what it records and what it returns. */

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
