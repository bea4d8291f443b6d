import type { WorkflowOutcome } from '../../functions/record-lab-status/task.js';
import type { StartableWorkflow, WorkflowStarter } from '../../functions/shared/workflow-starter.js';
import { localStateMachineArn } from '../runner/definitions.js';

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
  executionId: string;
  status: 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  done: Promise<void>;
}

export interface LocalStarterOptions {
  region?: string;
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
 * The WorkflowStarter of `session-lab serve`: each start runs the workflow in the background, in
 * this process. Starting an execution name again returns the first run (as Step Functions does
 * for a running execution), so the API's retries never run a workflow twice.
 */
export class LocalWorkflowStarter implements WorkflowStarter {
  private readonly executions = new Map<string, LocalExecution>();
  private readonly waiting: (() => void)[] = [];
  private running = 0;
  private closed = false;

  constructor(
    private readonly run: LocalRun,
    private readonly options: LocalStarterOptions = {},
  ) {}

  async start(
    workflow: StartableWorkflow,
    input: unknown,
    executionName: string,
  ): Promise<{ executionId: string }> {
    const known = this.executions.get(executionName);
    if (known) return { executionId: known.executionId };
    const region = this.options.region ?? process.env.AWS_REGION ?? 'us-east-1';
    const executionId = `${localStateMachineArn(workflow, region).replace(':stateMachine:', ':execution:')}:${executionName}`;
    const execution: LocalExecution = {
      workflow,
      executionName,
      executionId,
      status: 'QUEUED',
      done: Promise.resolve(),
    };
    execution.done = this.execute(execution, input);
    this.executions.set(executionName, execution);
    return { executionId };
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

  private async execute(execution: LocalExecution, input: unknown): Promise<void> {
    await this.slot();
    let outcome: LocalRunOutcome;
    try {
      if (this.closed) return;
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
    if (this.closed || !this.options.onSettled || execution.workflow === 'provision-class') return;
    await this.options
      .onSettled({ workflow: execution.workflow, executionName: execution.executionName, input, ...outcome })
      .catch((err: Error) =>
        this.options.log?.(`could not record ${execution.executionName}: ${err.message}`),
      );
  }

  /** Every execution started so far, oldest first. */
  list(): LocalExecution[] {
    return [...this.executions.values()];
  }

  /** Resolves once every execution started so far (and any started meanwhile) has ended and been recorded. */
  async idle(): Promise<void> {
    for (let seen = -1; seen !== this.executions.size;) {
      seen = this.executions.size;
      await Promise.all(this.list().map((execution) => execution.done));
    }
  }

  /** Stops starting queued runs and recording outcomes (the emulator is going away). */
  close(): void {
    this.closed = true;
  }
}
