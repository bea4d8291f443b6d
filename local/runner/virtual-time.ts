import { AsyncLocalStorage } from 'node:async_hooks';
import diagnostics from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';

/**
 * A virtual clock for the benchmark: this process's `Date` runs at real speed while real work is in
 * flight and jumps ahead to the next pending sleep when none is. The runner's Wait states and Retry
 * back-offs sleep on it, and so do the emulator's per-call latencies (its `Clock.waiter`); the
 * emulator's other modelled delays compare `Date.now()` with a start, so they are on it too (at time
 * scale 1). Real compute is counted at its real duration, every modelled wait at its modelled one,
 * without waiting for it.
 *
 * Real work, which the clock never jumps over:
 * - a Lambda handler computing (`busy`), that is running with no HTTP request of its own in flight;
 * - an HTTP request of a handler that is not sitting in the emulator's latency wait: on its way
 *   there, being served (the emulator's own code, moto), or its answer on its way back;
 * - anything a busy probe reports (Run Command scripts: separate processes).
 * Counted from Node's HTTP diagnostics channels: the emulator's server is the only HTTP server in
 * the process and, while no script runs, the handlers are its only callers. So "every request of
 * the handlers is waiting in the emulator" is: handler requests in flight = server requests waiting
 * = server requests in flight. A jump also needs a quiet spell of a few event-loop turns with no
 * activity at all (the workflow engine's own steps between states are promise chains).
 *
 * Processes other than this one (moto) keep real time; nothing in the workflow compares their
 * timestamps with ours.
 */
const RealDate = Date;

interface Timer {
  at: number;
  resolve: () => void;
  handle: NodeJS.Timeout;
}

interface Work {
  /** HTTP requests of this handler in flight. */
  requests: number;
  done: boolean;
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class VirtualTime {
  private offsetMs = 0;
  private readonly timers = new Set<Timer>();
  private readonly probes: (() => boolean)[] = [];
  private readonly work = new AsyncLocalStorage<Work>();
  /** Handlers running with no request in flight. */
  private computing = 0;
  /** Requests of handlers in flight, server requests in flight, and server requests waiting. */
  private handlerRequests = 0;
  private serverRequests = 0;
  private serverWaiting = 0;
  private epoch = 0;
  private watching = false;
  private restore: (() => void) | undefined;
  /** Model milliseconds skipped by jumps, and how many jumps. */
  skippedMs = 0;
  jumps = 0;

  now(): number {
    return RealDate.now() + this.offsetMs;
  }

  /**
   * Makes `Date` (now, `new Date()`, `Date()`) read this clock process-wide and starts counting
   * HTTP requests, until `uninstall`.
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
      this.clientRequest((message as { request: ClientRequest }).request);
    const onServerStart = () => {
      this.serverRequests += 1;
      this.touch();
    };
    const onServerEnd = () => {
      this.serverRequests -= 1;
      this.touch();
      this.watch();
    };
    diagnostics.subscribe('http.client.request.start', onClient);
    diagnostics.subscribe('http.server.request.start', onServerStart);
    diagnostics.subscribe('http.server.response.finish', onServerEnd);
    this.restore = () => {
      globalThis.Date = RealDate;
      diagnostics.unsubscribe('http.client.request.start', onClient);
      diagnostics.unsubscribe('http.server.request.start', onServerStart);
      diagnostics.unsubscribe('http.server.response.finish', onServerEnd);
    };
    return this;
  }

  uninstall(): void {
    this.restore?.();
    this.restore = undefined;
    for (const timer of this.timers) clearTimeout(timer.handle);
    this.timers.clear();
  }

  /** Real work elsewhere (e.g. a running script) the clock must not jump over while it reports true. */
  addBusyProbe(probe: () => boolean): void {
    this.probes.push(probe);
  }

  /** The counters deciding whether the clock may jump: what a stalled run is waiting on. */
  state() {
    return {
      pendingSleeps: this.timers.size,
      nextSleepInMs: this.timers.size ? Math.min(...[...this.timers].map((t) => t.at)) - this.now() : null,
      computing: this.computing,
      handlerRequests: this.handlerRequests,
      serverRequests: this.serverRequests,
      serverWaiting: this.serverWaiting,
      probesBusy: this.probes.filter((probe) => probe()).length,
      jumps: this.jumps,
    };
  }

  /** Records activity: a jump needs a quiet spell with none. */
  touch(): void {
    this.epoch += 1;
  }

  /** Runs a handler: real work, except while all its HTTP requests wait in the emulator. */
  async busy<T>(work: () => Promise<T>): Promise<T> {
    const state: Work = { requests: 0, done: false };
    this.computing += 1;
    this.touch();
    try {
      return await this.work.run(state, work);
    } finally {
      state.done = true;
      if (state.requests === 0) this.computing -= 1;
      this.touch();
      this.watch();
    }
  }

  private clientRequest(request: ClientRequest): void {
    const state = this.work.getStore();
    if (!state || state.done) return;
    if (state.requests === 0) this.computing -= 1;
    state.requests += 1;
    this.handlerRequests += 1;
    this.touch();
    request.once('close', () => {
      state.requests -= 1;
      this.handlerRequests -= 1;
      if (state.requests === 0 && !state.done) this.computing += 1;
      this.touch();
      this.watch();
    });
  }

  /** A modelled wait inside a request the emulator serves (its latency): not real work. */
  async serverWait(ms: number): Promise<void> {
    this.serverWaiting += 1;
    this.touch();
    try {
      await this.sleep(ms);
    } finally {
      this.serverWaiting -= 1;
      this.touch();
    }
  }

  /** Sleeps `ms` of virtual time: at real speed while work is in flight, at once when none is. */
  sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer: Timer = { at: this.now() + ms, resolve, handle: undefined! };
      this.arm(timer);
      this.timers.add(timer);
      this.touch();
      this.watch();
    });
  }

  private idle(): boolean {
    return (
      this.computing === 0 &&
      this.handlerRequests === this.serverWaiting &&
      this.serverRequests === this.serverWaiting &&
      !this.probes.some((probe) => probe())
    );
  }

  /**
   * The real timer behind a sleep, for when the clock does not jump. Node may fire a timer a
   * millisecond before `Date.now()` reaches its time; such a sleep is armed again rather than left
   * to a jump that may never come (a request outside any handler waiting on it keeps the clock
   * from jumping).
   */
  private arm(timer: Timer): void {
    timer.handle = setTimeout(
      () => {
        this.fire();
        if (this.timers.has(timer)) this.arm(timer);
      },
      Math.max(timer.at - this.now(), 1),
    );
  }

  private fire(): void {
    const now = this.now();
    for (const timer of [...this.timers]) {
      if (timer.at > now) continue;
      clearTimeout(timer.handle);
      this.timers.delete(timer);
      timer.resolve();
    }
    this.touch();
  }

  /** While sleeps are pending: once nothing has happened for a few turns and nothing is busy, jump. */
  private watch(): void {
    if (this.watching) return;
    this.watching = true;
    void (async () => {
      try {
        while (this.timers.size > 0) {
          const seen = this.epoch;
          await turn();
          await pause(2);
          await turn();
          if (this.epoch !== seen || !this.idle()) {
            if (!this.idle()) await pause(5);
            continue;
          }
          const next = Math.min(...[...this.timers].map((t) => t.at));
          const ahead = next - this.now();
          if (ahead > 0) {
            this.offsetMs += ahead;
            this.skippedMs += ahead;
            this.jumps += 1;
          }
          this.fire();
        }
      } finally {
        this.watching = false;
      }
    })();
  }
}
