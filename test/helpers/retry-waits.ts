interface Refreshing {
  refreshRetryTokenForRetry: (...args: unknown[]) => Promise<unknown>;
}

/**
 * The SDK retry waits a deadline's refusal leaves running. The SDK's strategy sleeps its back-off
 * inside `refreshRetryTokenForRetry`, then waits for the adaptive limiter (about 2 s after a
 * throttle); `withDeadline` stops waiting for it at the cutoff but cannot cancel it. A test file
 * awaits `settled()` so none of these timers outlives it (Jest would force-exit the worker).
 */
export class RetryWaits {
  private readonly pending: Promise<unknown>[] = [];

  /** Records the waits of `client` (an `awsClient` one: its wrapper inherits from the SDK's strategy). */
  async track(client: { config: { retryStrategy: () => Promise<unknown> } }): Promise<void> {
    const inner = Object.getPrototypeOf(await client.config.retryStrategy()) as Refreshing;
    const refresh = inner.refreshRetryTokenForRetry.bind(inner);
    inner.refreshRetryTokenForRetry = (...args) => {
      const wait = refresh(...args);
      this.pending.push(wait);
      return wait;
    };
  }

  settled(): Promise<unknown> {
    return Promise.allSettled(this.pending);
  }
}
