import type { AwsCall } from '../../../local/emulator/protocol.js';
import { RateLimiter, TokenBucket, throttlingError } from '../../../local/emulator/rate-limits.js';
import { callLatency } from '../../../local/emulator/latency.js';

const call = (service: string, operation: string, input: unknown = {}, invocation = 'inv-1'): AwsCall => ({
  service,
  operation,
  region: 'us-east-1',
  protocol: service === 'ec2' || service === 'iam' ? 'query' : 'json',
  input,
  raw: { method: 'POST', url: '/', headers: { 'amz-sdk-invocation-id': invocation }, body: Buffer.alloc(0) },
});

describe('TokenBucket', () => {
  it('starts full, empties, and refills at its rate up to its capacity', () => {
    const bucket = new TokenBucket({ capacity: 10, refillPerSecond: 2 }, 0);
    expect(bucket.take(10, 0)).toBe(true);
    expect(bucket.take(1, 0)).toBe(false);
    expect(bucket.take(1, 0.5)).toBe(true);
    expect(bucket.take(2, 1)).toBe(false);
    expect(bucket.available(100)).toBe(10);
  });
});

describe('RateLimiter', () => {
  it('throttles RunInstances on its instance bucket (1000, refill 2/s) with RequestLimitExceeded', () => {
    let now = 0;
    const limiter = new RateLimiter(() => now);
    expect(limiter.admit(call('ec2', 'RunInstances', { MaxCount: '200' }, 'a'))).toBeUndefined();
    for (let i = 0; i < 4; i++) limiter.admit(call('ec2', 'RunInstances', { MaxCount: '200' }, `b${i}`));
    const refused = limiter.admit(call('ec2', 'RunInstances', { MaxCount: '1' }, 'c'));
    expect(refused?.code).toBe('RequestLimitExceeded');
    expect(refused?.status).toBe(503);
    now = 0.5;
    expect(limiter.admit(call('ec2', 'RunInstances', { MaxCount: '1' }, 'c'))).toBeUndefined();
    limiter.answered(call('ec2', 'RunInstances', {}, 'c'));
    expect(limiter.stats()).toEqual({
      throttled: { 'ec2:RunInstances instances': 1 },
      absorbed: 1,
      surfaced: 0,
    });
  });

  it('keeps one bucket per EC2 describe API and answers each service its own throttling error', () => {
    const limiter = new RateLimiter(() => 0);
    for (let i = 0; i < 100; i++) expect(limiter.admit(call('ec2', 'DescribeInstances'))).toBeUndefined();
    expect(limiter.admit(call('ec2', 'DescribeInstances'))?.code).toBe('RequestLimitExceeded');
    expect(limiter.admit(call('ec2', 'DescribeSecurityGroups'))).toBeUndefined();
    expect(limiter.stats().surfaced).toBe(1);
    expect(throttlingError('iam').code).toBe('Throttling');
    expect(throttlingError('ssm').code).toBe('ThrottlingException');
  });
});

describe('callLatency', () => {
  it('finds the family of a call', () => {
    expect(callLatency({ service: 'ec2', operation: 'RunInstances' })).toEqual({
      family: 'ec2:RunInstances',
      seconds: 1,
    });
    expect(callLatency({ service: 'ec2', operation: 'DescribeInstances' }).family).toBe('ec2:describe');
    expect(callLatency({ service: 'iam', operation: 'CreateUser' }).family).toBe('iam:mutating');
    expect(callLatency({ service: 'kms', operation: 'Decrypt' }).family).toBe('other');
  });
});
