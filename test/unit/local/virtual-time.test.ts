import { NotReadyYet } from '../../../functions/shared/errors.js';
import { localFunctionArn } from '../../../local/runner/definitions.js';
import { retryDelayMs, runDefinition, type HandlerResolver } from '../../../local/runner/runner.js';
import { VirtualTime } from '../../../local/runner/virtual-time.js';

const fn = (folder: string) => localFunctionArn(folder, 'us-east-1');

describe('VirtualTime', () => {
  let clock: VirtualTime;
  beforeEach(() => {
    clock = new VirtualTime().install();
  });
  afterEach(() => clock.uninstall());

  it('jumps over a sleep when nothing is in flight, and Date reads the virtual time', async () => {
    const real0 = performance.now();
    const before = Date.now();
    await clock.sleep(3_600_000);
    expect(Date.now() - before).toBeGreaterThanOrEqual(3_600_000);
    expect(new Date().getTime()).toBeGreaterThanOrEqual(before + 3_600_000);
    expect(performance.now() - real0).toBeLessThan(2_000);
    expect(clock.jumps).toBe(1);
  });

  it('runs at real speed while work is busy: a sleep ends only after the work', async () => {
    const before = Date.now();
    let slept = 0;
    const sleeping = clock.sleep(60_000).then(() => (slept = Date.now()));
    let worked = 0;
    await clock.busy(async () => {
      await new Promise((resolve) => setTimeout(resolve, 200));
      worked = Date.now();
    });
    await sleeping;
    expect(worked - before).toBeGreaterThanOrEqual(190);
    expect(worked - before).toBeLessThan(60_000);
    expect(slept - before).toBeGreaterThanOrEqual(60_000);
  });

  it('does not jump while a busy probe reports work', async () => {
    let running = true;
    clock.addBusyProbe(() => running);
    const before = Date.now();
    const sleeping = clock.sleep(120_000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(Date.now() - before).toBeLessThan(60_000);
    running = false;
    await sleeping;
    expect(Date.now() - before).toBeGreaterThanOrEqual(120_000);
  });
});

it('ends a sleep whose real timer fires early while the clock cannot jump', async () => {
  // Node may fire a timer a millisecond before Date.now() reaches its time; a sleep left pending
  // then waited for a jump that work in flight (here a probe that never ends) kept from coming.
  const clock = new VirtualTime().install();
  const realSetTimeout = globalThis.setTimeout;
  globalThis.setTimeout = ((fn: () => void, ms = 0) =>
    realSetTimeout(fn, Math.max(ms - 3, 0))) as typeof setTimeout;
  try {
    clock.addBusyProbe(() => true);
    const before = Date.now();
    await clock.sleep(50);
    expect(Date.now() - before).toBeGreaterThanOrEqual(50);
    expect(clock.jumps).toBe(0);
  } finally {
    globalThis.setTimeout = realSetTimeout;
    clock.uninstall();
  }
});

describe('retryDelayMs (the Retry back-off the runner sleeps on a virtual clock)', () => {
  const retriers = [
    { ErrorEquals: ['Lambda.ServiceException'], IntervalSeconds: 2, MaxAttempts: 6, BackoffRate: 2 },
    { ErrorEquals: ['NotReadyYet'], IntervalSeconds: 5, MaxAttempts: 2, BackoffRate: 3, MaxDelaySeconds: 12 },
  ];

  it('grows by the rate, caps at MaxDelaySeconds and stops after MaxAttempts', () => {
    const attempts: number[] = [];
    expect(retryDelayMs(retriers, attempts, 'NotReadyYet')).toBe(5_000);
    expect(retryDelayMs(retriers, attempts, 'NotReadyYet')).toBe(12_000);
    expect(retryDelayMs(retriers, attempts, 'NotReadyYet')).toBeUndefined();
    expect(retryDelayMs(retriers, attempts, 'LabStepFailed')).toBeUndefined();
  });

  it('applies full jitter and States.ALL', () => {
    const jittered = [{ ErrorEquals: ['States.ALL'], IntervalSeconds: 10, JitterStrategy: 'FULL' as const }];
    expect(retryDelayMs(jittered, [], 'Anything', () => 0.25)).toBe(2_500);
  });
});

describe('runDefinition on a virtual clock', () => {
  const definition = {
    StartAt: 'Start thing',
    States: {
      'Start thing': {
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke',
        Parameters: { FunctionName: fn('start-thing'), Payload: {} },
        Retry: [{ ErrorEquals: ['NotReadyYet'], IntervalSeconds: 20, MaxAttempts: 3, BackoffRate: 2 }],
        ResultPath: null,
        Next: 'Pause',
      },
      Pause: { Type: 'Wait', Seconds: 300, Next: 'Done' },
      Done: { Type: 'Succeed' },
    },
  };

  it('sleeps Waits and Retry back-offs in model seconds without waiting for them', async () => {
    const clock = new VirtualTime().install();
    try {
      let calls = 0;
      const resolveHandler: HandlerResolver = async () => async () => {
        calls += 1;
        if (calls < 3) throw new NotReadyYet('not yet');
        return {};
      };
      const real0 = performance.now();
      const invocations: number[] = [];
      const result = await runDefinition('provision-lab', definition, {
        input: {},
        virtualTime: clock,
        resolveHandler,
        onInvoke: ({ startedAt }) => invocations.push(startedAt),
      });
      expect(result.status).toBe('SUCCEEDED');
      expect(calls).toBe(3);
      // 20 s then 40 s of back-off between the attempts, then the 300 s Wait.
      expect(invocations[1]! - invocations[0]!).toBeGreaterThanOrEqual(20_000);
      expect(invocations[2]! - invocations[1]!).toBeGreaterThanOrEqual(40_000);
      const elapsed = result.events.at(-1)!.timestamp - result.events[0]!.timestamp;
      expect(elapsed).toBeGreaterThanOrEqual(360_000);
      expect(elapsed).toBeLessThan(370_000);
      expect(performance.now() - real0).toBeLessThan(10_000);
      expect(
        result.events.filter((e) => e.type === 'StateEntered' && e.state === 'Pause')[0]?.stateType,
      ).toBe('Wait');
    } finally {
      clock.uninstall();
    }
  });
});
