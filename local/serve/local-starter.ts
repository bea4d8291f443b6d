import type { WorkflowOutcome } from '../../functions/record-lab-status/task.js';
import type { StartableWorkflow } from '../../functions/shared/workflow-starter.js';

/** How an execution ended, as the local runner reports it. */
export interface LocalRunOutcome {
  status: 'SUCCEEDED' | 'FAILED';
  output?: unknown;
  error?: string;
  cause?: string;
}

/** Runs one workflow to its end (the local runner, or a stand-in in tests). */
export type LocalRun = (
  name: StartableWorkflow,
  input: unknown,
  executionName: string,
) => Promise<LocalRunOutcome>;

export interface LocalExecution {
  workflow: StartableWorkflow;
  executionName: string;
  status: 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  done: Promise<LocalRunOutcome>;
}

export interface LocalStarterOptions {
  /** Workflows running at once; more wait their turn (a class of 30 on a laptop). */
  maxConcurrent?: number;
  /**
   * Called with every ended execution: what the deployed EventBridge rule on execution status
   * changes does (record-lab-status), so the registry learns the outcome even of a workflow that
   * does not record it itself.
   */
  onSettled?: (outcome: WorkflowOutcome) => Promise<void>;
  log?: (message: string) => void;
}

/**
 * The executions of `session-lab serve`: the emulator's StartExecution hands each one here (once
 * per name: the emulator answers a restart itself), and it runs in the background of this process,
 * at most `maxConcurrent` at once, its end reported to `onSettled`.
 */
export class LocalWorkflowStarter {
  private readonly executions: LocalExecution[] = [];
  private readonly waiting: (() => void)[] = [];
  private running = 0;
  private closed = false;

  constructor(
    private readonly run: LocalRun,
    private readonly options: LocalStarterOptions = {},
  ) {}

  /** Queues the execution; resolves with its outcome once it has ended and been reported. */
  execute(workflow: StartableWorkflow, input: unknown, executionName: string): Promise<LocalRunOutcome> {
    const execution: LocalExecution = {
      workflow,
      executionName,
      status: 'QUEUED',
      done: Promise.resolve({ status: 'FAILED' }),
    };
    execution.done = this.runQueued(execution, input);
    this.executions.push(execution);
    return execution.done;
  }

  private async slot(): Promise<void> {
    const max = this.options.maxConcurrent ?? 3;
    if (this.running < max) {
      this.running++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running--;
  }

  private async runQueued(execution: LocalExecution, input: unknown): Promise<LocalRunOutcome> {
    await this.slot();
    let outcome: LocalRunOutcome;
    try {
      if (this.closed) return { status: 'FAILED', error: 'Abandoned', cause: 'session-lab serve stopped' };
      execution.status = 'RUNNING';
      this.options.log?.(`${execution.workflow} ${execution.executionName}: started`);
      outcome = await this.run(execution.workflow, input, execution.executionName).catch(
        (err: Error): LocalRunOutcome => ({ status: 'FAILED', error: err.name, cause: err.message }),
      );
    } finally {
      this.release();
    }
    execution.status = outcome.status;
    this.options.log?.(
      `${execution.workflow} ${execution.executionName}: ${outcome.status}${outcome.error ? ` (${outcome.error})` : ''}`,
    );
    // A class's labs are each recorded by their own provision-lab execution (and the deployed
    // status-change rule watches only the lab workflows).
    if (this.closed || !this.options.onSettled || execution.workflow === 'provision-class') return outcome;
    await this.options
      .onSettled({ workflow: execution.workflow, executionName: execution.executionName, input, ...outcome })
      .catch((err: Error) =>
        this.options.log?.(`could not record ${execution.executionName}: ${err.message}`),
      );
    return outcome;
  }

  /** Every execution started so far, oldest first. */
  list(): LocalExecution[] {
    return [...this.executions];
  }

  /** Resolves once every execution started so far (and any started meanwhile) has ended and been recorded. */
  async idle(): Promise<void> {
    for (let seen = -1; seen !== this.executions.length;) {
      seen = this.executions.length;
      await Promise.all(this.list().map((execution) => execution.done));
    }
  }

  /** Stops starting queued runs and recording outcomes (the emulator is going away). */
  close(): void {
    this.closed = true;
  }
}
