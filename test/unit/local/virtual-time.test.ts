import { setTimeout as realDelay } from 'node:timers/promises';
import { NotReadyYet } from '../../../functions/shared/errors.js';
import { localFunctionArn } from '../../../local/runner/definitions.js';
import { retryDelayMs, runDefinition, type HandlerResolver } from '../../../local/runner/runner.js';
import { VirtualTime } from '../../../local/runner/virtual-time.js';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import timers from 'node:timers';

/** What the process had before any clock was installed. */
const realTimers = {
  setTimeout: globalThis.setTimeout,
  clearTimeout: globalThis.clearTimeout,
  moduleSetTimeout: timers.setTimeout,
  moduleClearTimeout: timers.clearTimeout,
  Date,
};

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

describe('VirtualTime in compute-free mode', () => {
  const realPause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
  let clock: VirtualTime;
  beforeEach(() => {
    clock = new VirtualTime({ computeFree: true }).install();
  });
  afterEach(() => clock.uninstall());

  it('keeps Date still during real work', async () => {
    const before = Date.now();
    const spinUntil = performance.now() + 20;
    while (performance.now() < spinUntil);
    await realPause(10);
    expect(Date.now()).toBe(before);
    expect(new Date().getTime()).toBe(before);
  });

  it('jumps to the next sleep when nothing is in flight, by exactly its length', async () => {
    const before = Date.now();
    const order: number[] = [];
    await Promise.all([
      clock.sleep(90_000).then(() => order.push(Date.now() - before)),
      clock.sleep(30_000).then(() => order.push(Date.now() - before)),
    ]);
    expect(order).toEqual([30_000, 90_000]);
    expect(clock.jumps).toBe(2);
  });

  it('does not jump while a handler computes (awaits something that is not a virtual timer)', async () => {
    let release!: () => void;
    const handler = clock.busy(() => new Promise<void>((resolve) => (release = resolve)));
    const before = Date.now();
    let slept = false;
    const sleeping = clock.sleep(60_000).then(() => (slept = true));
    await realPause(30);
    expect(slept).toBe(false);
    expect(clock.state().computing).toEqual(['handler']);
    release();
    await Promise.all([handler, sleeping]);
    expect(Date.now() - before).toBe(60_000);
  });

  it('makes a setTimeout inside a handler virtual: it ends on a jump, clearTimeout cancels it', async () => {
    const real0 = performance.now();
    const before = Date.now();
    let cancelledRan = false;
    await clock.busy(async () => {
      const cancelled = setTimeout(() => (cancelledRan = true), 1_000);
      expect(cancelled.hasRef()).toBe(true);
      expect(typeof +cancelled).toBe('number');
      clearTimeout(cancelled);
      // A number id cancels too, as with Node's timers.
      const byId = setTimeout(() => (cancelledRan = true), 500);
      clearTimeout(+byId);
      await new Promise((resolve) => setTimeout(resolve, 120_000));
    });
    expect(Date.now() - before).toBe(120_000);
    expect(cancelledRan).toBe(false);
    expect(clock.jumps).toBe(1);
    expect(performance.now() - real0).toBeLessThan(2_000);
  });

  it('makes a sub-millisecond timer inside a handler a 1 ms virtual one, as Node clamps it', async () => {
    // The SDK's adaptive rate limiter sleeps fractions of a millisecond until its bucket, refilled
    // from Date.now(), has a token: with real timers and a still clock it would loop forever.
    const before = Date.now();
    await clock.busy(async () => {
      while (Date.now() < before + 3) await new Promise((resolve) => setTimeout(resolve, 0.3));
    });
    expect(Date.now() - before).toBe(3);
  });

  it("makes node:timers' setTimeout (middy's deadline) virtual without counting it as a wait", async () => {
    let release!: () => void;
    let deadlineAt = 0;
    const handler = clock.busy(async () => {
      timers.setTimeout(() => (deadlineAt = Date.now()), 300_000);
      await new Promise<void>((resolve) => (release = resolve));
    });
    const before = Date.now();
    await realPause(30);
    // The deadline pending does not make the handler idle: it still computes.
    expect(clock.state().computing).toEqual(['handler']);
    expect(Date.now()).toBe(before);
    release();
    await handler;
    await clock.sleep(400_000);
    expect(deadlineAt - before).toBe(300_000);
  });

  it('counts a client request from its creation: no jump while it waits for a connection', async () => {
    const server = http.createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const before = Date.now();
      const sleeping = clock.sleep(60_000);
      const answered = await clock.busy(async () => {
        // What the SDK sets around a request: a virtual timer the handler is not computing on.
        const deferral = setTimeout(() => undefined, 3_000);
        const body = await new Promise<string>((resolve, reject) => {
          // Through the module, as the SDK calls it (the clock wraps the module's `request`).
          const req = http.request({
            host: '127.0.0.1',
            port,
            // A connection that takes 50 real ms to open, as a new one may on a loaded machine.
            createConnection: (_options, done) => {
              void realDelay(50).then(() => done(null, connect(port, '127.0.0.1')));
              return undefined;
            },
          });
          req.on('response', (res) => {
            let text = '';
            res.on('data', (chunk: Buffer) => (text += String(chunk)));
            res.on('end', () => resolve(text));
          });
          req.on('error', reject);
          req.end();
        });
        clearTimeout(deferral);
        return { body, at: Date.now() - before };
      });
      expect(answered).toEqual({ body: 'ok', at: 0 });
      await sleeping;
      expect(Date.now() - before).toBe(60_000);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("jumps over the latency wait of a request another process sent (a host script's aws)", async () => {
    // The emulator's server pads each call; a request from a child process has no client request
    // here. Without telling the clock it is external, client requests (0, or the handler's 1) never
    // equal server requests waiting (1, 2) and the clock waits for ever (the bench hung so).
    // The child is real work until its request waits (what host-exec's busyHostScripts tells the bench).
    let childRunning = true;
    let childWaiting = false;
    clock.addBusyProbe(() => childRunning && !childWaiting);
    const server = http.createServer((_req, res) => {
      childWaiting = true;
      void clock.serverWait(60, { external: true }).then(() => {
        childWaiting = false;
        res.end(String(Date.now()));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const before = Date.now();
      // Another sleep pending beside it, as the workflow's are: the jump goes to the earliest.
      const sleeping = clock.sleep(60_000);
      const child = spawn(
        process.execPath,
        ['-e', `require('http').get('http://127.0.0.1:${port}/', (r) => r.pipe(process.stdout))`],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += String(chunk)));
      const code = await new Promise((resolve) => child.once('close', resolve));
      childRunning = false;
      expect(code).toBe(0);
      expect(Number(out) - before).toBe(60);
      await sleeping;
      expect(Date.now() - before).toBe(60_000);
      expect(clock.state()).toMatchObject({ serverWaiting: 0, externalWaiting: 0 });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('leaves a setTimeout outside any handler real', async () => {
    const before = Date.now();
    const timer = setTimeout(() => undefined, 5);
    expect(timer.constructor.name).toBe('Timeout');
    clearTimeout(timer);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(Date.now()).toBe(before);
    expect(clock.jumps).toBe(0);
  });

  it('restores Date and the timer functions on uninstall', () => {
    clock.uninstall();
    expect(globalThis.setTimeout).toBe(realTimers.setTimeout);
    expect(globalThis.clearTimeout).toBe(realTimers.clearTimeout);
    expect(timers.setTimeout).toBe(realTimers.moduleSetTimeout);
    expect(timers.clearTimeout).toBe(realTimers.moduleClearTimeout);
    expect(Date.now()).toBeGreaterThan(0);
    expect(Date).toBe(realTimers.Date);
  });
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

  it.each([
    ['real-time', false],
    ['compute-free', true],
  ])(
    'sleeps Waits and Retry back-offs in model seconds without waiting for them (%s)',
    async (_, computeFree) => {
      const clock = new VirtualTime({ computeFree }).install();
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
        expect(elapsed).toBeLessThan(computeFree ? 360_001 : 370_000);
        expect(performance.now() - real0).toBeLessThan(10_000);
        expect(
          result.events.filter((e) => e.type === 'StateEntered' && e.state === 'Pause')[0]?.stateType,
        ).toBe('Wait');
      } finally {
        clock.uninstall();
      }
    },
  );
  it("gives a handler its Lambda's remaining time on the virtual clock, its SDK-like sleeps included", async () => {
    const clock = new VirtualTime({ computeFree: true }).install();
    try {
      const remaining: number[] = [];
      const resolveHandler: HandlerResolver = async () => async (_event, context) => {
        remaining.push(context.getRemainingTimeInMillis());
        await new Promise((resolve) => setTimeout(resolve, 30_000));
        remaining.push(context.getRemainingTimeInMillis());
        return {};
      };
      const { Next: _next, ...task } = definition.States['Start thing'];
      const single = { StartAt: 'Start thing', States: { 'Start thing': { ...task, End: true } } };
      const result = await runDefinition('provision-lab', single, {
        input: {},
        virtualTime: clock,
        resolveHandler,
      });
      expect(result.status).toBe('SUCCEEDED');
      // start-thing is no deployed function: the runner's default 60 s timeout.
      expect(remaining).toEqual([60_000, 30_000]);
    } finally {
      clock.uninstall();
    }
  });

  it("does not time a Task out in real seconds: the Lambda's timeout on the clock ends a hung one", async () => {
    // TimeoutSeconds 1 and an invocation that computes for 1.2 real seconds, no model time: the
    // library's own (real-time) Task timer ended it with States.Timeout; 200 labs on two cores did
    // the same to every lab.
    const clock = new VirtualTime({ computeFree: true }).install();
    try {
      const resolveHandler: HandlerResolver = async () => async () => {
        await realDelay(1_200);
        return {};
      };
      const { Next: _next, Retry: _retry, ...task } = definition.States['Start thing'];
      const single = {
        StartAt: 'Start thing',
        States: { 'Start thing': { ...task, TimeoutSeconds: 1, End: true } },
      };
      const result = await runDefinition('provision-lab', single, {
        input: {},
        virtualTime: clock,
        resolveHandler,
      });
      expect(result.status).toBe('SUCCEEDED');
    } finally {
      clock.uninstall();
    }
  });
});
