import { jest } from '@jest/globals';
import { InvocationRetryStrategy, withDeadline } from '../../../functions/shared/retries.js';
import { runOnFakeClock } from '../../helpers/fake-clock.js';

type Token = Parameters<InvocationRetryStrategy['refreshRetryTokenForRetry']>[0];
type ErrorInfo = Parameters<InvocationRetryStrategy['refreshRetryTokenForRetry']>[1];
type ErrorType = ErrorInfo['errorType'];

const errorOf = (errorType: ErrorType, name = 'Throttling'): ErrorInfo => ({
  errorType,
  error: Object.assign(new Error(name), { name, $metadata: {} }) as ErrorInfo['error'],
});

/** Retries `errorType` until the strategy refuses: how many retries it granted, and the refusal. */
async function retriesGranted(
  strategy: InvocationRetryStrategy,
  errorType: ErrorType,
  name?: string,
  limit = 200,
): Promise<{ granted: number; refusal: unknown; refusedAt?: number }> {
  let token = (await strategy.acquireInitialRetryToken('scope')) as Token;
  for (let granted = 0; granted < limit; granted += 1) {
    try {
      token = (await strategy.refreshRetryTokenForRetry(token, errorOf(errorType, name))) as Token;
    } catch (refusal) {
      return { granted, refusal, refusedAt: Date.now() };
    }
  }
  return { granted: limit, refusal: undefined };
}

describe('InvocationRetryStrategy', () => {
  beforeEach(() => {
    jest.useFakeTimers();
    // Node runs a timer of under 1 ms after 1 ms; Jest's fake clock would run it without moving,
    // and the SDK's rate limiter, a hair short of a token, would wait again forever.
    const fake = globalThis.setTimeout;
    globalThis.setTimeout = ((fn: () => void, ms = 0) => fake(fn, Math.max(1, ms))) as typeof setTimeout;
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  const farDeadline = () => Date.now() + 3_600_000;

  it('retries throttling inside an invocation past maxAttempts and past the SDK’s retry quota', async () => {
    const strategy = new InvocationRetryStrategy(3);
    // 150 throttled retries would cost 750 of the SDK quota's 500 tokens.
    const { output } = await runOnFakeClock(() =>
      withDeadline(farDeadline(), () => retriesGranted(strategy, 'THROTTLING', 'Throttling', 150)),
    );
    expect(output).toEqual({ granted: 150, refusal: undefined });
  });

  it('keeps the SDK’s bound outside an invocation: maxAttempts for throttling', async () => {
    const { output } = await runOnFakeClock(() =>
      retriesGranted(new InvocationRetryStrategy(3), 'THROTTLING'),
    );
    expect(output?.granted).toBe(2);
  });

  it('keeps maxAttempts for other retryable errors inside an invocation', async () => {
    const { output } = await runOnFakeClock(() =>
      withDeadline(farDeadline(), () =>
        retriesGranted(new InvocationRetryStrategy(3), 'TRANSIENT', 'InternalServerError'),
      ),
    );
    expect(output?.granted).toBe(2);
  });

  it('does not retry an error named as not throttling (a quota), in or out of an invocation', async () => {
    const strategy = new InvocationRetryStrategy(8, ['LimitExceededException']);
    const inside = await runOnFakeClock(() =>
      withDeadline(farDeadline(), () => retriesGranted(strategy, 'THROTTLING', 'LimitExceededException')),
    );
    const outside = await runOnFakeClock(() =>
      retriesGranted(strategy, 'THROTTLING', 'LimitExceededException'),
    );
    expect([inside.output?.granted, outside.output?.granted]).toEqual([0, 0]);
  });

  it('starts no throttling retry past the invocation’s cutoff, and refuses at the cutoff', async () => {
    // A 60 s function: its margin is 6 s, so its cutoff is 54 s after the start.
    const started = Date.now();
    const { output } = await runOnFakeClock(() =>
      withDeadline(started + 60_000, () => retriesGranted(new InvocationRetryStrategy(3), 'THROTTLING')),
    );
    expect(output?.granted).toBeGreaterThan(2);
    expect((output?.refusal as Error).message).toMatch(/deadline/);
    expect(output!.refusedAt! - started).toBeLessThanOrEqual(54_000);
  });
});
