import type { VirtualTime } from './virtual-time.js';

/** A Task state's `Retry` entry, as far as the back-off goes. */
export interface Retrier {
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

/**
 * Retry back-offs on the virtual clock, which the runner sleeps itself (the library's are set to
 * 0): a failed attempt's back-off is decided when it fails and slept before the state's next
 * attempt runs; a success or a final failure starts the state's attempt counts afresh.
 */
export class VirtualBackoffs {
  private readonly attempts = new Map<string, number[]>();
  private readonly pending = new Map<string, number>();

  constructor(private readonly virtual: VirtualTime) {}

  /** Runs one attempt of `state` on the clock, after the back-off its last failure earned. */
  async attempt<T>(state: string, retriers: Retrier[], label: string, invoke: () => Promise<T>): Promise<T> {
    const backoff = this.pending.get(state);
    if (backoff !== undefined) {
      this.pending.delete(state);
      await this.virtual.sleep(backoff);
    }
    try {
      const result = await this.virtual.busy(invoke, label);
      this.attempts.delete(state);
      return result;
    } catch (err) {
      const attempts = this.attempts.get(state) ?? [];
      const delay = retryDelayMs(retriers, attempts, (err as Error).name);
      if (delay === undefined) this.attempts.delete(state);
      else {
        this.attempts.set(state, attempts);
        this.pending.set(state, delay);
      }
      throw err;
    }
  }
}
