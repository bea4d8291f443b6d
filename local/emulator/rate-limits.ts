import { AwsError, type AwsCall } from './protocol.js';

/**
 * The account's API rate limits as token buckets, per account and Region like AWS's. A call takes a
 * token from every bucket that applies to it (all or none); an empty bucket answers the service's
 * real throttling error, which the SDK's adaptive retry then absorbs. bench/README.md ("Rate
 * limits") gives each figure's source or assumption. Applied only when the time profile enables
 * `rateLimits`.
 */
export interface BucketSpec {
  capacity: number;
  refillPerSecond: number;
}

export interface LimitRule {
  /** The bucket's name; with `perOperation` each API gets its own bucket `<name>:<Operation>`. */
  name: string;
  spec: BucketSpec;
  perOperation?: boolean;
  applies(call: Pick<AwsCall, 'service' | 'operation'>): boolean;
  /** Tokens a call takes (a resource bucket counts instances, not requests). Default 1. */
  cost?(call: Pick<AwsCall, 'service' | 'operation' | 'input'>): number;
}

const reads = /^(Describe|Get|List|Lookup|Search|Simulate)/;
const of =
  (service: string, test: (operation: string) => boolean = () => true) =>
  (call: Pick<AwsCall, 'service' | 'operation'>) =>
    call.service === service && test(call.operation);

/** How many instances a RunInstances call asks for (its resource bucket counts those). */
function instancesAsked(call: Pick<AwsCall, 'input'>): number {
  const input = (call.input ?? {}) as { MaxCount?: unknown };
  const n = Number(input.MaxCount ?? 1);
  return Number.isFinite(n) && n > 0 ? n : 1;
}

export const RATE_LIMITS: LimitRule[] = [
  // EC2 (docs/aws-behaviours.md#quotas-and-throttling-at-scale): request buckets per API, resource
  // buckets per instance.
  {
    name: 'ec2:RunInstances instances',
    spec: { capacity: 1000, refillPerSecond: 2 },
    applies: of('ec2', (op) => op === 'RunInstances'),
    cost: instancesAsked,
  },
  {
    name: 'ec2:TerminateInstances instances',
    spec: { capacity: 1000, refillPerSecond: 20 },
    applies: of('ec2', (op) => op === 'TerminateInstances'),
    cost: (call) => {
      const ids = (call.input as { InstanceId?: unknown } | undefined)?.InstanceId;
      return Array.isArray(ids) ? Math.max(ids.length, 1) : 1;
    },
  },
  {
    name: 'ec2:describe',
    spec: { capacity: 100, refillPerSecond: 20 },
    perOperation: true,
    applies: of('ec2', (op) => reads.test(op)),
  },
  {
    name: 'ec2:mutating',
    spec: { capacity: 200, refillPerSecond: 5 },
    perOperation: true,
    applies: of('ec2', (op) => !reads.test(op)),
  },
  // IAM publishes no rate limits: assumed account-wide, writes slower than reads.
  {
    name: 'iam:mutating',
    spec: { capacity: 20, refillPerSecond: 10 },
    applies: of('iam', (op) => !reads.test(op)),
  },
  {
    name: 'iam:read',
    spec: { capacity: 50, refillPerSecond: 20 },
    applies: of('iam', (op) => reads.test(op)),
  },
  // SSM: numeric TPS unpublished in the sources: assumed per API.
  { name: 'ssm', spec: { capacity: 40, refillPerSecond: 20 }, perOperation: true, applies: of('ssm') },
  // CloudWatch Logs control plane: about 5 TPS per API (assumed).
  { name: 'logs', spec: { capacity: 10, refillPerSecond: 5 }, perOperation: true, applies: of('logs') },
  // CloudTrail LookupEvents: 2 TPS per account and Region.
  {
    name: 'cloudtrail:LookupEvents',
    spec: { capacity: 2, refillPerSecond: 2 },
    applies: of('cloudtrail', (op) => op === 'LookupEvents'),
  },
  // Secrets Manager writes (assumed 50 TPS per API; reads are far higher and left unlimited).
  {
    name: 'secretsmanager:mutating',
    spec: { capacity: 50, refillPerSecond: 50 },
    perOperation: true,
    applies: of('secretsmanager', (op) => !reads.test(op)),
  },
];

/** The throttling error each service answers with, and its HTTP status (as the SDK classifies it). */
export function throttlingError(service: string): AwsError {
  if (service === 'ec2') return new AwsError('RequestLimitExceeded', 'Request limit exceeded.', 503);
  if (service === 'iam' || service === 'sts') return new AwsError('Throttling', 'Rate exceeded', 400);
  return new AwsError('ThrottlingException', 'Rate exceeded', 400);
}

/** A token bucket on model time: `nowSeconds` is any monotonic model-seconds reading. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly spec: BucketSpec,
    nowSeconds: number,
  ) {
    this.tokens = spec.capacity;
    this.last = nowSeconds;
  }

  private refill(nowSeconds: number): void {
    const elapsed = Math.max(0, nowSeconds - this.last);
    this.tokens = Math.min(this.spec.capacity, this.tokens + elapsed * this.spec.refillPerSecond);
    this.last = Math.max(this.last, nowSeconds);
  }

  available(nowSeconds: number): number {
    this.refill(nowSeconds);
    return this.tokens;
  }

  /** Takes `n` tokens if there are that many; a request for more than the capacity takes a full bucket. */
  take(n: number, nowSeconds: number): boolean {
    this.refill(nowSeconds);
    const need = Math.min(n, this.spec.capacity);
    if (this.tokens < need) return false;
    this.tokens -= need;
    return true;
  }

  /** Puts tokens back (a call refused by another bucket took none). */
  giveBack(n: number): void {
    this.tokens = Math.min(this.spec.capacity, this.tokens + Math.min(n, this.spec.capacity));
  }
}

export interface ThrottleStats {
  /** Requests answered with a throttling error, per bucket. */
  throttled: Record<string, number>;
  /** Throttled requests whose SDK call later got a real answer (the SDK's retry absorbed them). */
  absorbed: number;
  /** Throttled requests whose SDK call has had no real answer (so far): the caller saw the error. */
  surfaced: number;
}

/** Applies the rules to calls; `nowSeconds` reads model time (the emulator's clock). */
export class RateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly pending = new Map<string, number>();
  private throttled: Record<string, number> = {};
  private absorbed = 0;

  constructor(
    private readonly nowSeconds: () => number,
    readonly rules: LimitRule[] = RATE_LIMITS,
  ) {}

  private bucket(rule: LimitRule, operation: string): TokenBucket {
    const key = rule.perOperation ? `${rule.name}:${operation}` : rule.name;
    let bucket = this.buckets.get(key);
    if (!bucket) this.buckets.set(key, (bucket = new TokenBucket(rule.spec, this.nowSeconds())));
    return bucket;
  }

  /** Admits the call (taking its tokens) or answers the throttling error it gets. */
  admit(call: AwsCall): AwsError | undefined {
    const now = this.nowSeconds();
    const taken: [TokenBucket, number][] = [];
    for (const rule of this.rules) {
      if (!rule.applies(call)) continue;
      const bucket = this.bucket(rule, call.operation);
      const cost = rule.cost?.(call) ?? 1;
      if (!bucket.take(cost, now)) {
        for (const [b, n] of taken) b.giveBack(n);
        const key = rule.perOperation ? `${rule.name}:${call.operation}` : rule.name;
        this.throttled[key] = (this.throttled[key] ?? 0) + 1;
        const invocation = sdkInvocation(call);
        if (invocation) this.pending.set(invocation, (this.pending.get(invocation) ?? 0) + 1);
        return throttlingError(call.service);
      }
      taken.push([bucket, cost]);
    }
    return undefined;
  }

  /** The call got a real answer: the throttles its earlier attempts saw were absorbed. */
  answered(call: AwsCall): void {
    const invocation = sdkInvocation(call);
    const count = invocation ? this.pending.get(invocation) : undefined;
    if (!count) return;
    this.absorbed += count;
    this.pending.delete(invocation!);
  }

  stats(): ThrottleStats {
    let surfaced = 0;
    for (const n of this.pending.values()) surfaced += n;
    return { throttled: { ...this.throttled }, absorbed: this.absorbed, surfaced };
  }
}

/** The SDK's id for one logical call, the same on every retry attempt. */
function sdkInvocation(call: AwsCall): string | undefined {
  const value = call.raw.headers['amz-sdk-invocation-id'];
  return Array.isArray(value) ? value[0] : value;
}
