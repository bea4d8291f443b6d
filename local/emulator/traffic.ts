import { callLatency } from './latency.js';
import { errorReply, type AwsCall, type RawReply } from './protocol.js';
import { HOST_SCRIPT_HEADER, hostScriptWaiting } from './services/host-exec.js';
import { RateLimiter, type ThrottleStats } from './rate-limits.js';
import type { Clock } from './time.js';

export interface TrafficStats extends ThrottleStats {
  /** AWS requests the emulator received per `service:Operation` (every SDK attempt counts). */
  calls: Record<string, number>;
}

/**
 * What every AWS call goes through before the emulator serves it: the account's rate limits (when
 * the profile enables them) and the per-call latency (when enabled), and a count per operation.
 */
export class Traffic {
  readonly limiter: RateLimiter | undefined;
  private calls: Record<string, number> = {};

  constructor(private readonly clock: Clock) {
    const started = Date.now();
    this.limiter = clock.profile.rateLimits
      ? new RateLimiter(() => clock.modelSecondsSince(started))
      : undefined;
  }

  async serve(call: AwsCall, dispatch: (call: AwsCall) => Promise<RawReply>): Promise<RawReply> {
    const key = `${call.service}:${call.operation}`;
    this.calls[key] = (this.calls[key] ?? 0) + 1;
    const started = Date.now();
    const throttled = this.limiter?.admit(call);
    const reply = throttled ? errorReply(call, throttled) : await dispatch(call);
    if (!throttled && reply.status < 500 && !isThrottle(reply)) this.limiter?.answered(call);
    if (this.clock.profile.apiLatency) {
      const remaining = this.clock.realMs(callLatency(call).seconds) - (Date.now() - started);
      // A simulated host's `aws` (a process of its own) names its script: while its call waits
      // here, the script waits on the emulator rather than working (host-exec.ts busyHostScripts).
      const script = call.raw.headers[HOST_SCRIPT_HEADER];
      if (script === undefined) await this.clock.pause(remaining);
      else await hostScriptWaiting(String(script), () => this.clock.pause(remaining, { external: true }));
    }
    return reply;
  }

  stats(): TrafficStats {
    const throttles = this.limiter?.stats() ?? { throttled: {}, absorbed: 0, surfaced: 0 };
    return { calls: { ...this.calls }, ...throttles };
  }

  /** Starts the counts afresh (the buckets keep their tokens: the account's state goes on). */
  resetCounts(): void {
    this.calls = {};
  }
}

/** A throttling answer from another layer (fault injection) is not a real answer. */
function isThrottle(reply: RawReply): boolean {
  const type = reply.headers['x-amzn-errortype'] ?? '';
  if (/Throttl/.test(type)) return true;
  const body = typeof reply.body === 'string' ? reply.body : reply.body.toString('utf8', 0, 512);
  return reply.status >= 400 && /RequestLimitExceeded|<Code>Throttling<\/Code>/.test(body);
}
