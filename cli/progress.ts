import { RETRYABLE_ERRORS } from '../functions/shared/errors.js';
import type { ExecutionEvent } from '../local/runner/runner.js';

type StepState = 'running' | 'done' | 'failed' | 'retrying';

interface Step {
  name: string;
  state: StepState;
  startedAt: number;
  endedAt?: number;
  retries: number;
}

/** Errors the workflows retry (functions/shared/errors.ts): not a failure while retries remain. */
const RETRYABLE = new Set<string>(RETRYABLE_ERRORS);

const ICON: Record<StepState, string> = { running: '…', done: '✓', failed: '✗', retrying: '↻' };

/**
 * The live task list: one line per Task state (the lab's steps), with its state and time. On a
 * terminal it redraws in place; otherwise (CI, pipes) it prints each change as a new line.
 */
export class ProgressList {
  private readonly steps = new Map<string, Step>();
  private drawn = 0;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly live = Boolean(process.stderr.isTTY),
  ) {}

  onEvent = (event: ExecutionEvent): void => {
    if (event.stateType !== 'Task' || !event.state) return;
    const step = this.steps.get(event.state);
    if (event.type === 'StateEntered') {
      if (step && step.state !== 'failed') step.state = 'running';
      else
        this.steps.set(event.state, {
          name: event.state,
          state: 'running',
          startedAt: event.timestamp,
          retries: 0,
        });
    } else if (step && event.type === 'StateExited') {
      step.state = 'done';
      step.endedAt = event.timestamp;
    } else if (step && event.type === 'StateRetried') {
      step.state = 'retrying';
      step.retries += 1;
    } else if (step && event.type === 'StateFailed' && RETRYABLE.has(event.error ?? '')) {
      // A poll's "not yet" (its Retry is the poll) or a propagation wait: the retry follows.
      step.state = 'retrying';
      return;
    } else if (
      step &&
      (event.type === 'StateFailed' || (event.type === 'StateCaught' && step.state !== 'failed'))
    ) {
      step.state = 'failed';
      step.endedAt = event.timestamp;
    } else return;
    this.render(this.steps.get(event.state)!);
  };

  private line(step: Step): string {
    const seconds = (((step.endedAt ?? Date.now()) - step.startedAt) / 1000).toFixed(1);
    const retries = step.retries ? ` (${step.retries} ${step.retries === 1 ? 'retry' : 'retries'})` : '';
    return `${ICON[step.state]} ${step.name.padEnd(34)} ${seconds.padStart(6)}s${retries}`;
  }

  private render(changed: Step): void {
    if (!this.live) {
      if (changed.state !== 'running') this.out.write(`${this.line(changed)}\n`);
      return;
    }
    if (this.drawn) this.out.write(`\x1b[${this.drawn}A`);
    const lines = [...this.steps.values()].map((step) => `\x1b[2K${this.line(step)}`);
    this.out.write(`${lines.join('\n')}\n`);
    this.drawn = lines.length;
  }
}
