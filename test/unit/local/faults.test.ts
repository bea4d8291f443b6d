import type { EmulatorContext } from '../../../local/emulator/context.js';
import {
  FaultInjector,
  faultControls,
  parseFaultOptions,
  type FaultOptions,
} from '../../../local/emulator/faults.js';
import { RawReply, type AwsCall } from '../../../local/emulator/protocol.js';
import { Clock, timeProfile } from '../../../local/emulator/time.js';

/** The fault injector on its own: decisions, figures and options, with a dispatch that records calls. */

const ctx = { accountId: '123456789012', clock: new Clock(timeProfile({ scale: 0.001 })) } as EmulatorContext;

function call(
  service: string,
  operation: string,
  options: { invocation?: string; input?: Record<string, unknown> } = {},
): AwsCall {
  return {
    service,
    operation,
    region: 'us-east-1',
    protocol: service === 'ec2' || service === 'iam' ? 'query' : 'json',
    input: options.input ?? {},
    raw: {
      method: 'POST',
      url: '/',
      headers: options.invocation ? { 'amz-sdk-invocation-id': options.invocation } : {},
      body: Buffer.alloc(0),
    },
  };
}

const ok = async () => new RawReply(200, { 'content-type': 'application/json' }, '{}');

/** The status (or 'ok') of `n` calls of one operation. */
async function outcomes(faults: FaultInjector, n: number, service = 'ssm', operation = 'GetParameter') {
  const seen: (number | 'ok')[] = [];
  for (let i = 0; i < n; i++) {
    const reply = await faults.intercept(call(service, operation), ctx, ok);
    seen.push(reply.status === 200 ? 'ok' : reply.status);
  }
  return seen;
}

describe('FaultInjector', () => {
  it('is deterministic for a seed, and different seeds give different sequences', async () => {
    const options: FaultOptions = { seed: 42, throttle: 0.2, serverError: 0.1 };
    const first = await outcomes(new FaultInjector(options), 200);
    const again = await outcomes(new FaultInjector(options), 200);
    const other = await outcomes(new FaultInjector({ ...options, seed: 43 }), 200);
    expect(again).toEqual(first);
    expect(other).not.toEqual(first);
  });

  it('injects close to the configured shares, per operation independently', async () => {
    const faults = new FaultInjector({ seed: 7, throttle: 0.1, serverError: 0.02 });
    await outcomes(faults, 5000);
    await outcomes(faults, 5000, 'ec2', 'DescribeInstances');
    const { injected, requests, byOperation } = faults.snapshot();
    expect(requests).toBe(10_000);
    // 10% throttled; 2% of the rest answered 5xx (binomial, n = 10,000: a few standard deviations of slack).
    expect(injected.throttle / requests).toBeGreaterThan(0.085);
    expect(injected.throttle / requests).toBeLessThan(0.115);
    expect(injected.serverError / requests).toBeGreaterThan(0.012);
    expect(injected.serverError / requests).toBeLessThan(0.028);
    expect(byOperation['ssm:GetParameter']!.requests).toBe(5000);
    expect(byOperation['ec2:DescribeInstances']!.throttle).toBeGreaterThan(0);
  });

  it('answers with each service’s throttling code and status, and 500/503 for server errors', async () => {
    const throttled = new FaultInjector({ throttle: 1 });
    const codes = async (faults: FaultInjector, service: string) => {
      const reply = await faults.intercept(call(service, 'Op'), ctx, ok);
      const body = reply.body.toString();
      const code = reply.headers['x-amzn-errortype'] ?? /<Code>([^<]+)<\/Code>/.exec(body)?.[1];
      return `${reply.status} ${code}`;
    };
    expect(await codes(throttled, 'ssm')).toBe('400 ThrottlingException');
    expect(await codes(throttled, 'logs')).toBe('400 ThrottlingException');
    expect(await codes(throttled, 'iam')).toBe('400 Throttling');
    expect(await codes(throttled, 'ec2')).toBe('503 RequestLimitExceeded');
    const failing = new FaultInjector({ serverError: 1 });
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) seen.add(await codes(failing, 'ssm'));
    expect(seen).toEqual(new Set(['500 InternalServerError', '503 ServiceUnavailable']));
    expect(await codes(new FaultInjector({ serverError: 1, seed: 2 }), 'iam')).toMatch(
      /^(500 ServiceFailure|503 ServiceUnavailable)$/,
    );
  });

  it('takes the most specific rate: service:Operation, then service, then *', async () => {
    const faults = new FaultInjector({ throttle: { 'ssm:GetParameter': 1, ssm: 0, '*': 1 } });
    expect(await outcomes(faults, 3, 'ssm', 'GetParameter')).toEqual([400, 400, 400]);
    expect(await outcomes(faults, 3, 'ssm', 'PutParameter')).toEqual(['ok', 'ok', 'ok']);
    expect(await outcomes(faults, 3, 'iam', 'GetRole')).toEqual([400, 400, 400]);
  });

  it('counts a fault absorbed when the same SDK call is answered later, surfaced when it is not', async () => {
    const faults = new FaultInjector({ throttle: { 'ssm:GetParameter': 1 } });
    await faults.intercept(call('ssm', 'GetParameter', { invocation: 'a' }), ctx, ok);
    await faults.intercept(call('ssm', 'GetParameter', { invocation: 'a' }), ctx, ok);
    await faults.intercept(call('ssm', 'GetParameter', { invocation: 'b' }), ctx, ok);
    faults.configure({});
    await faults.intercept(call('ssm', 'GetParameter', { invocation: 'a' }), ctx, ok);
    const stats = faults.snapshot();
    expect(stats.injected.throttle).toBe(3);
    expect(stats.absorbed.throttle).toBe(2);
    expect(stats.surfaced.throttle).toBe(1);
  });

  it('lets a lost-reply fault take effect before answering 500', async () => {
    const faults = new FaultInjector({ serverErrorAfterEffect: 1 });
    const served: string[] = [];
    const reply = await faults.intercept(call('ssm', 'PutParameter'), ctx, async (c) => {
      served.push(c.operation);
      return ok();
    });
    expect(served).toEqual(['PutParameter']);
    expect(reply.status).toBe(500);
  });

  it('does not dispatch a throttled or 5xx call (it never took effect)', async () => {
    const faults = new FaultInjector({ throttle: 0.5, serverError: 0.5, seed: 3 });
    let served = 0;
    let refused = 0;
    for (let i = 0; i < 50; i++) {
      const reply = await faults.intercept(call('iam', 'CreateRole'), ctx, async () => {
        served += 1;
        return ok();
      });
      if (reply.status !== 200) refused += 1;
    }
    expect(served + refused).toBe(50);
    expect(refused).toBe(faults.snapshot().injected.throttle + faults.snapshot().injected.serverError);
  });

  it('validates options, naming the field', () => {
    expect(() => new FaultInjector({ throttle: 2 })).toThrow(/throttle/);
    expect(() => parseFaultOptions('{"throttel": 0.1}', '--faults')).toThrow(/--faults: throttel/);
    expect(() => parseFaultOptions('{"agentRegistration": {"fail": "maybe"}}', '--faults')).toThrow(
      /--faults: agentRegistration\.fail/,
    );
    expect(() => parseFaultOptions('not json', 'SESSION_LAB_FAULTS')).toThrow(
      /SESSION_LAB_FAULTS: not valid JSON/,
    );
    expect(parseFaultOptions('{"throttle": {"ec2:RunInstances": 0.5}}', 'x')).toEqual({
      throttle: { 'ec2:RunInstances': 0.5 },
    });
  });

  it('is reconfigured and read through the faults control', async () => {
    const faults = new FaultInjector();
    const control = faultControls(faults).faults!;
    await control({ configure: { throttle: 1 } }, ctx);
    await faults.intercept(call('ssm', 'GetParameter'), ctx, ok);
    const answer = (await control({}, ctx)) as { stats: { injected: { throttle: number } } };
    expect(answer.stats.injected.throttle).toBe(1);
    await expect(control({ configure: { throttle: -1 } }, ctx)).rejects.toThrow(/configure\.throttle/);
    await expect(control({ colour: 1 }, ctx)).rejects.toThrow(/colour/);
    const reset = (await control({ resetStats: true }, ctx)) as { stats: { requests: number } };
    expect(reset.stats.requests).toBe(0);
  });
});
