import { AsyncLocalStorage } from 'node:async_hooks';
import {
  AdaptiveRetryStrategy,
  DefaultRateLimiter,
  MAXIMUM_RETRY_DELAY,
  RETRY_MODES,
  Retry,
} from '@smithy/core/retry';

type RetryToken = Awaited<ReturnType<AdaptiveRetryStrategy['refreshRetryTokenForRetry']>>;
type StandardRetryToken = Parameters<AdaptiveRetryStrategy['refreshRetryTokenForRetry']>[0];
type RetryErrorInfo = Parameters<AdaptiveRetryStrategy['refreshRetryTokenForRetry']>[1];

/** The instant after which no SDK retry may start, for the invocation running. */
const cutoffs = new AsyncLocalStorage<number>();

/**
 * Runs `fn` (and everything it awaits) as a Lambda invocation that ends at `deadlineMs`
 * (`Date.now()` time): an SDK retry that would start less than a margin before it is refused, and
 * the call throws its last error (throttling becomes Throttled in `labHandler`, which the
 * workflow retries) instead of the SDK sleeping into the Lambda timeout, which nothing retries
 * (5 of 200 benchmark labs failed so). The margin, max(5 s, a tenth of the time left at the start,
 * which is the function's timeout: 30-300 s), leaves time for the calls still to come, each a first
 * attempt that may wait up to 2 s for the adaptive limiter's send token at its slowest rate, and for
 * the handler's failure bookkeeping (registry item and progress event); a longer function makes
 * more calls in a row. `Date.now()` is the clock the benchmark's virtual time replaces.
 */
export function withDeadline<T>(deadlineMs: number, fn: () => T): T {
  const margin = Math.max(5_000, (deadlineMs - Date.now()) / 10);
  return cutoffs.run(deadlineMs - margin, fn);
}

/**
 * The SDK's adaptive retries (a client-side rate limiter that backs off on throttling, the retry
 * quota, at most `maxAttempts`) with two changes for a Lambda invocation's calls:
 * - `notThrottling` error names, which the SDK's service-agnostic list counts as throttling, are
 *   not retried (a service's quota, not its rate: see NOT_THROTTLING in clients.ts);
 * - inside `withDeadline`, throttling is retried until the invocation's cutoff rather than for
 *   `maxAttempts` and the retry quota. Throttling was refused before it took effect, and the
 *   adaptive limiter already paces this client's retries (the quota guards a failing service, not
 *   a busy one). Giving up after 8 attempts, or once the quota was spent (5 of its 500 tokens per
 *   throttled retry), failed the whole invocation: the workflow's Retry then re-ran the task from
 *   its first read, and with a class of 200 labs sharing IAM's 20 reads a second those re-reads
 *   were, by estimate, over half of the reads IAM served (1,117 retries of Create workshop user:
 *   bench/README.md).
 *   Other errors keep the SDK's bounds.
 * No retry starts past the cutoff: the call then throws its last error.
 */
export class InvocationRetryStrategy {
  readonly mode = RETRY_MODES.ADAPTIVE;
  private readonly limiter = new DefaultRateLimiter();
  private readonly adaptive: AdaptiveRetryStrategy;

  constructor(
    maxAttempts: number,
    private readonly notThrottling: readonly string[] = [],
  ) {
    this.adaptive = new AdaptiveRetryStrategy(maxAttempts, { rateLimiter: this.limiter });
  }

  acquireInitialRetryToken(scope: string): Promise<RetryToken> {
    return this.adaptive.acquireInitialRetryToken(scope);
  }

  refreshRetryTokenForRetry(token: StandardRetryToken, info: RetryErrorInfo): Promise<RetryToken> {
    const classified: RetryErrorInfo = this.notThrottling.includes(info.error?.name ?? '')
      ? { ...info, errorType: 'CLIENT_ERROR' }
      : info;
    const cutoff = cutoffs.getStore();
    if (cutoff === undefined) return this.adaptive.refreshRetryTokenForRetry(token, classified);
    const refresh =
      classified.errorType === 'THROTTLING'
        ? this.retryThrottling(token, classified)
        : this.adaptive.refreshRetryTokenForRetry(token, classified);
    return beforeCutoff(refresh, cutoff);
  }

  recordSuccess(token: StandardRetryToken): void {
    this.adaptive.recordSuccess(token);
  }

  /** The SDK's throttling back-off (full jitter, doubling, at most 20 s), then the limiter's pace. */
  private async retryThrottling(token: StandardRetryToken, info: RetryErrorInfo): Promise<RetryToken> {
    this.limiter.updateClientSendingRate(info);
    const count = token.getRetryCount();
    const ceiling = Math.min(Retry.throttlingDelay() * 2 ** Math.min(count, 16), MAXIMUM_RETRY_DELAY);
    // The global setTimeout, like the SDK's own back-off: the one the virtual clock replaces.
    await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * ceiling)));
    await this.limiter.getSendToken();
    return {
      getRetryCount: () => count + 1,
      getRetryDelay: () => 0,
      // No quota cost to give back on success: `recordSuccess` adds its usual token instead.
      getRetryCost: () => undefined,
    } as RetryToken;
  }
}

/**
 * The retry token of `refresh`, or a refusal once the retry could not start by `cutoff`: the
 * strategy sleeps its back-off (up to 20 s) and the adaptive limiter's wait inside `refresh`, so
 * the refusal comes at the cutoff instead of after the sleep; a token whose delay is left to the
 * middleware is checked as well. A sleep that ends before the cutoff still gets its retry.
 */
async function beforeCutoff(refresh: Promise<RetryToken>, cutoff: number): Promise<RetryToken> {
  const refusal = () => new Error('no SDK retry: it would start past the invocation’s deadline margin');
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(refusal()), Math.max(0, cutoff - Date.now()));
  });
  try {
    const token = await Promise.race([refresh, late]);
    if (Date.now() + token.getRetryDelay() > cutoff) throw refusal();
    return token;
  } finally {
    // A pending timer would also count as a wait, not compute, on the benchmark's virtual clock.
    clearTimeout(timer);
  }
}
