import { jest } from '@jest/globals';

/**
 * Runs `invocation` on Jest's fake clock (the caller has called `jest.useFakeTimers()`), jumping
 * every wait it makes: its outcome, and the model milliseconds it took.
 */
export async function runOnFakeClock<T>(
  invocation: () => Promise<T>,
): Promise<{ output: T | undefined; error: unknown; waitedMs: number }> {
  const startedAt = Date.now();
  const outcome = invocation().then(
    (output) => ({ output, error: undefined as unknown }),
    (error: unknown) => ({ output: undefined, error }),
  );
  await jest.runAllTimersAsync();
  return { ...(await outcome), waitedMs: Date.now() - startedAt };
}
