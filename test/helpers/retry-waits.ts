type Refresh = (...args: unknown[]) => Promise<unknown>;

/** The parts of an `awsClient` strategy (InvocationRetryStrategy) whose waits outlive a refusal. */
interface Strategy {
  adaptive: { refreshRetryTokenForRetry: Refresh };
  retryThrottling: Refresh;
}

/**
 * The SDK retry waits a deadline's refusal leaves running. The strategy sleeps its back-off, then
 * waits for the adaptive limiter (about 2 s after a throttle); `withDeadline` stops waiting for
 * them at the cutoff but cannot cancel them. A test file awaits `settled()` so none of these timers
 * outlives it (Jest would force-exit the worker).
 */
export class RetryWaits {
  private readonly pending: Promise<unknown>[] = [];

  /** Records the waits of `client` (an `awsClient` one). */
  async track(client: { config: { retryStrategy: () => Promise<unknown> } }): Promise<void> {
    // Private members, reached on purpose: the waits to track are the strategy's own.
    const strategy = (await client.config.retryStrategy()) as Strategy;
    strategy.adaptive.refreshRetryTokenForRetry = this.tracked(
      strategy.adaptive.refreshRetryTokenForRetry.bind(strategy.adaptive),
    );
    strategy.retryThrottling = this.tracked(strategy.retryThrottling.bind(strategy));
  }

  private tracked(refresh: Refresh): Refresh {
    return (...args) => {
      const wait = refresh(...args);
      this.pending.push(wait);
      return wait;
    };
  }

  settled(): Promise<unknown> {
    return Promise.allSettled(this.pending);
  }
}
