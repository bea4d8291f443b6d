import diagnostics from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { real, TimerQueue } from './virtual-time/timers.js';
import { WorkAccounting } from './virtual-time/work.js';

/**
 * A virtual clock for the benchmark: this process's `Date` reads it, and it jumps ahead to the next
 * pending sleep when no real work is in flight. The runner's Wait states and Retry back-offs sleep
 * on it, and so do the emulator's per-call latencies (its `Clock.waiter`); the emulator's other
 * modelled delays compare `Date.now()` with a start, so they are on it too (at time scale 1).
 *
 * Two modes:
 * - real-time (the default): the clock also runs at real speed, so real compute is counted at its
 *   real duration on this machine, every modelled wait at its modelled one, without waiting for it;
 * - compute-free (`{ computeFree: true }`, the bench's default): the clock never moves with real
 *   time, only by jumps, so real compute (handlers, the emulator, moto, Run Command scripts) takes
 *   no model time at all and only modelled waits advance it. Inside a Lambda handler (`busy`) the
 *   timers the SDK and middy sleep on (`setTimeout`, also `node:timers`' export) are then virtual
 *   too: retry back-offs, the adaptive rate limiter, waiters and the function's early timeout.
 *
 * Real work, which the clock never jumps over:
 * - a Lambda handler computing (`busy`), that is running with no HTTP request of its own in flight
 *   and (compute-free) no virtual `setTimeout` of its own pending;
 * - an HTTP request that is not sitting in the emulator's latency wait: on its way there, being
 *   served (the emulator's own code, moto), or its answer on its way back;
 * - anything a busy probe reports (Run Command scripts: separate processes, busy unless one of
 *   their requests is in the emulator's latency wait).
 * Counted from their creation (`http.request` wrapped) and Node's HTTP diagnostics channels: the
 * emulator's server is the only HTTP server in the process. So "every request is waiting in the
 * emulator" is: client requests in flight = server requests waiting that this process sent = server
 * requests in flight. Server requests from other processes (a simulated host's `aws`) have no
 * client request here: their waits are told apart (`serverWait(ms, { external: true })`), and
 * whether the script that sent one is working or waiting is its busy probe's to say. (Real-time mode counts only the handlers' client
 * requests, as it always did: a request from outside a handler then runs at real speed.) A jump also
 * needs a quiet spell of a few event-loop turns with no activity at all (the workflow engine's own
 * steps between states are promise chains).
 *
 * Processes other than this one (moto) keep real time; nothing in the workflow compares their
 * timestamps with ours.
 *
 * The pieces: virtual-time/timers.ts keeps the pending sleeps and virtual timeouts,
 * virtual-time/work.ts counts the real work; this class moves the clock between them.
 */
const RealDate = Date;

export interface VirtualTimeOptions {
  /** The clock moves only by jumps: real compute takes no model time (see the class comment). */
  computeFree?: boolean;
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
const pause = (ms: number) => new Promise<void>((resolve) => real.setTimeout(resolve, ms));

export class VirtualTime {
  readonly computeFree: boolean;
  /** Compute-free mode: the real instant the clock stopped at; it moves on only by jumps. */
  private readonly frozenAt = RealDate.now();
  private offsetMs = 0;
  private readonly timers: TimerQueue;
  private readonly work: WorkAccounting;
  private epoch = 0;
  private watching = false;
  private restore: (() => void) | undefined;
  /** Model milliseconds skipped by jumps, and how many jumps. */
  skippedMs = 0;
  jumps = 0;

  constructor(options: VirtualTimeOptions = {}) {
    this.computeFree = options.computeFree ?? false;
    const activity = { touch: () => this.touch(), watch: () => this.watch() };
    this.work = new WorkAccounting(this.computeFree, activity);
    this.timers = new TimerQueue({
      ...activity,
      computeFree: this.computeFree,
      now: () => this.now(),
      running: () => this.work.running(),
    });
  }

  now(): number {
    return (this.computeFree ? this.frozenAt : RealDate.now()) + this.offsetMs;
  }

  /**
   * Makes `Date` (now, `new Date()`, `Date()`) read this clock process-wide and starts counting
   * HTTP requests, until `uninstall`. Compute-free, it also makes the timers handlers set virtual.
   */
  install(): this {
    if (this.restore) return this;
    const now = () => this.now();
    const Virtual = new Proxy(RealDate, {
      construct(target, args, newTarget) {
        return Reflect.construct(target, args.length ? args : [now()], newTarget) as object;
      },
      apply() {
        return new RealDate(now()).toString();
      },
      get(target, property, receiver) {
        if (property === 'now') return now;
        return Reflect.get(target, property, receiver) as unknown;
      },
    });
    globalThis.Date = Virtual;
    const onClient = (message: unknown) =>
      this.work.clientRequest((message as { request: ClientRequest }).request);
    const onServerStart = () => this.work.serverStarted();
    const onServerEnd = () => this.work.serverFinished();
    const restoreRequests = this.work.countRequestsFromCreation();
    diagnostics.subscribe('http.client.request.start', onClient);
    diagnostics.subscribe('http.server.request.start', onServerStart);
    diagnostics.subscribe('http.server.response.finish', onServerEnd);
    const restoreTimers = this.computeFree ? this.timers.install() : undefined;
    this.restore = () => {
      globalThis.Date = RealDate;
      restoreTimers?.();
      restoreRequests();
      diagnostics.unsubscribe('http.client.request.start', onClient);
      diagnostics.unsubscribe('http.server.request.start', onServerStart);
      diagnostics.unsubscribe('http.server.response.finish', onServerEnd);
    };
    return this;
  }

  uninstall(): void {
    this.restore?.();
    this.restore = undefined;
    this.timers.clear();
  }

  /** Real work elsewhere (e.g. a running script) the clock must not jump over while it reports true. */
  addBusyProbe(probe: () => boolean): void {
    this.work.addBusyProbe(probe);
  }

  /** The counters deciding whether the clock may jump: what a stalled run is waiting on. */
  state() {
    const { handlers, computing, ...requests } = this.work.state();
    return {
      mode: this.computeFree ? 'compute-free' : 'real-time',
      pendingSleeps: this.timers.size,
      nextSleepInMs: this.timers.size ? this.timers.nextAt() - this.now() : null,
      handlers,
      computing,
      ...requests,
      jumps: this.jumps,
    };
  }

  /** Records activity: a jump needs a quiet spell with none. */
  touch(): void {
    this.epoch += 1;
  }

  /**
   * Runs a handler: real work, except while it waits on its HTTP requests or its virtual timers.
   * `label` names it in `state()`.
   */
  busy<T>(work: () => Promise<T>, label = 'handler'): Promise<T> {
    return this.work.busy(work, label);
  }

  /**
   * A modelled wait inside a request the emulator serves (its latency): not real work. `external`:
   * the request came from another process (a simulated host's command), so no client request of
   * this process stands for it.
   */
  serverWait(ms: number, origin: { external?: boolean } = {}): Promise<void> {
    return this.work.serverWait(() => this.sleep(ms), origin.external === true);
  }

  /**
   * Sleeps `ms` of virtual time: it ends on a jump, or (real-time mode) after `ms` real ms if work
   * is in flight all along.
   */
  sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.timers.add({ at: this.now() + ms, seq: 0, run: resolve, waiter: this.work.running(), ref: true });
    });
  }

  /**
   * While sleeps are pending (unref'd virtual timeouts alone do not count, as they keep no process
   * alive): once nothing has happened for a few turns and nothing is busy, jump.
   */
  private watch(): void {
    if (this.watching) return;
    this.watching = true;
    void (async () => {
      try {
        while (this.timers.anyRef()) {
          const seen = this.epoch;
          await turn();
          await pause(2);
          await turn();
          if (this.epoch !== seen || !this.work.idle()) {
            if (!this.work.idle()) await pause(5);
            continue;
          }
          const ahead = this.timers.nextAt() - this.now();
          if (ahead > 0) {
            this.offsetMs += ahead;
            this.skippedMs += ahead;
            this.jumps += 1;
          }
          this.timers.fire();
        }
      } finally {
        this.watching = false;
      }
    })();
  }
}
