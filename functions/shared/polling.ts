import { WaiterState, createWaiter } from '@smithy/core/client';

export interface PollOptions {
  /** How long to keep checking; with no more than `minDelaySeconds` left, one check. */
  maxWaitSeconds: number;
  minDelaySeconds: number;
  maxDelaySeconds: number;
}

/**
 * Checks at once, then again with back-off until `check` answers a value or the time is up
 * (undefined). An error thrown by `check` ends it. The loop is the SDK's own waiter (createWaiter,
 * formerly @smithy/util-waiter, now in @smithy/core) rather than a hand-written one: exponential
 * back-off with jitter from `minDelaySeconds` to `maxDelaySeconds`, sleeping on the global
 * setTimeout and Date, which Jest's fake timers and the benchmark's virtual clock replace.
 */
export async function pollUntil<T>(
  check: () => Promise<T | undefined>,
  { maxWaitSeconds, minDelaySeconds, maxDelaySeconds }: PollOptions,
): Promise<T | undefined> {
  let found: T | undefined;
  const attempt = async () => {
    found = await check();
    return { state: found === undefined ? WaiterState.RETRY : WaiterState.SUCCESS };
  };
  // The waiter refuses a budget not above its first delay.
  if (maxWaitSeconds > minDelaySeconds) {
    await createWaiter(
      {
        client: undefined,
        maxWaitTime: maxWaitSeconds,
        minDelay: minDelaySeconds,
        maxDelay: maxDelaySeconds,
      },
      undefined,
      attempt,
    );
  } else {
    await attempt();
  }
  return found;
}
