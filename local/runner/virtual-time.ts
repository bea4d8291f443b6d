import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import diagnostics from 'node:diagnostics_channel';
import http, { type ClientRequest } from 'node:http';
import https from 'node:https';
import { syncBuiltinESMExports } from 'node:module';
import timers from 'node:timers';

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
 */
const RealDate = Date;
/** The timer functions before any install: the clock's own pauses use them, whatever is installed. */
const real = { setTimeout: globalThis.setTimeout, clearTimeout: globalThis.clearTimeout };
/** Node runs a timer whose delay is outside [1, TIMEOUT_MAX] after 1 ms; so does a virtual one. */
const TIMEOUT_MAX = 2 ** 31 - 1;

interface Timer {
  at: number;
  /** Creation order: timers due at the same instant run in it, as Node's do. */
  seq: number;
  run: () => void;
  /** The handler waiting on this timer: it is not computing while the timer is pending. */
  waiter: Work | undefined;
  /** False once unref'd: the clock does not go on jumping for such timers alone. */
  ref: boolean;
  /** Real-time mode: the real timer that ends the sleep when the clock does not jump. */
  handle?: NodeJS.Timeout;
}

interface Work {
  /** What the handler is (a state name), for `state()`. */
  label: string;
  /** HTTP requests of this handler in flight. */
  requests: number;
  /** Virtual timers this handler waits on (compute-free mode). */
  waits: number;
}

export interface VirtualTimeOptions {
  /** The clock moves only by jumps: real compute takes no model time (see the class comment). */
  computeFree?: boolean;
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
const pause = (ms: number) => new Promise<void>((resolve) => real.setTimeout(resolve, ms));

/**
 * What a virtual `setTimeout` returns: what code does with Node's `Timeout` (clear it, ref/unref
 * it, refresh it, use it as a number id) works on it.
 */
class VirtualTimeout {
  constructor(
    readonly id: number,
    private readonly timer: Timer,
    private readonly control: { arm(): void; cancel(): void },
  ) {}

  ref(): this {
    this.timer.ref = true;
    return this;
  }

  unref(): this {
    this.timer.ref = false;
    return this;
  }

  hasRef(): boolean {
    return this.timer.ref;
  }

  /** Starts the delay again from now, also after the timer has fired (as Node's does). */
  refresh(): this {
    this.control.arm();
    return this;
  }

  close(): this {
    this.control.cancel();
    return this;
  }

  [Symbol.toPrimitive](): number {
    return this.id;
  }
}

export class VirtualTime {
  readonly computeFree: boolean;
  /** Compute-free mode: the real instant the clock stopped at; it moves on only by jumps. */
  private readonly frozenAt = RealDate.now();
  private offsetMs = 0;
  private seq = 0;
  private readonly timers = new Set<Timer>();
  private readonly probes: (() => boolean)[] = [];
  private readonly work = new AsyncLocalStorage<Work>();
  /** Handlers running (`busy`). */
  private readonly handlers = new Set<Work>();
  /** Virtual timeouts pending, by the id they convert to (`clearTimeout` accepts the number). */
  private readonly timeouts = new Map<number, VirtualTimeout>();
  /** Far from the small integers Node gives its own timers, so a number id names one or the other. */
  private nextTimeoutId = 2 ** 40;
  /** Client requests in flight (all, and the handlers'), server requests in flight and waiting. */
  private clientRequests = 0;
  private handlerRequests = 0;
  private serverRequests = 0;
  private serverWaiting = 0;
  /** Of the server requests waiting, those another process sent (no client request here). */
  private externalWaiting = 0;
  /** Client requests counted (from their creation, or from Node's start report). */
  private readonly counted = new WeakSet<ClientRequest>();
  private epoch = 0;
  private watching = false;
  private restore: (() => void) | undefined;
  /** Model milliseconds skipped by jumps, and how many jumps. */
  skippedMs = 0;
  jumps = 0;

  constructor(options: VirtualTimeOptions = {}) {
    this.computeFree = options.computeFree ?? false;
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
    const restoreRequests = this.countRequestsFromCreation();
    diagnostics.subscribe('http.client.request.start', onClient);
    diagnostics.subscribe('http.server.request.start', onServerStart);
    diagnostics.subscribe('http.server.response.finish', onServerEnd);
    const restoreTimers = this.computeFree ? this.installTimers() : undefined;
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
    for (const timer of this.timers) real.clearTimeout(timer.handle);
    this.timers.clear();
    this.timeouts.clear();
  }

  /** Real work elsewhere (e.g. a running script) the clock must not jump over while it reports true. */
  addBusyProbe(probe: () => boolean): void {
    this.probes.push(probe);
  }

  /** The counters deciding whether the clock may jump: what a stalled run is waiting on. */
  state() {
    return {
      mode: this.computeFree ? 'compute-free' : 'real-time',
      pendingSleeps: this.timers.size,
      nextSleepInMs: this.timers.size ? this.nextAt() - this.now() : null,
      handlers: this.handlers.size,
      computing: this.computing().map((handler) => handler.label),
      clientRequests: this.clientRequests,
      handlerRequests: this.handlerRequests,
      serverRequests: this.serverRequests,
      serverWaiting: this.serverWaiting,
      externalWaiting: this.externalWaiting,
      probesBusy: this.probes.filter((probe) => probe()).length,
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
  async busy<T>(work: () => Promise<T>, label = 'handler'): Promise<T> {
    const state: Work = { label, requests: 0, waits: 0 };
    this.handlers.add(state);
    this.touch();
    try {
      return await this.work.run(state, work);
    } finally {
      this.handlers.delete(state);
      this.touch();
      this.watch();
    }
  }

  /**
   * Counts a client request from its creation. Node reports it on 'http.client.request.start' only
   * once it has a socket and is sent, so a request still connecting (every new SDK client's first
   * call opens a connection) or queued in its agent went uncounted while the SDK's timers around it
   * (its socket-listener deferrals, 3 s) were pending: its handler looked idle, not computing, and on
   * a loaded machine the clock jumped to one of those timers, 3 s at a time (10 labs beside a
   * 200-lab bench: `Validate lab input` ended at 3.7 s). Wraps `request` and `get` of `node:http`
   * and `node:https` (the SDK reads `request` from the module when it sends its first request, so
   * the clock must be installed before that). Returns the undo.
   */
  private countRequestsFromCreation(): () => void {
    const modules = [http, https] as { request: typeof http.request; get: typeof http.get }[];
    const saved = modules.map((module) => ({ module, request: module.request, get: module.get }));
    for (const { module, request, get } of saved) {
      const counted = <F extends typeof http.request>(original: F) =>
        ((...args: Parameters<F>) => {
          const created = (original as (...a: Parameters<F>) => ClientRequest)(...args);
          this.clientRequest(created);
          return created;
        }) as F;
      module.request = counted(request);
      module.get = counted(get);
    }
    syncBuiltinESMExports();
    return () => {
      for (const { module, request, get } of saved) Object.assign(module, { request, get });
      syncBuiltinESMExports();
    };
  }

  private clientRequest(request: ClientRequest): void {
    if (this.counted.has(request)) return;
    this.counted.add(request);
    const store = this.work.getStore();
    const handler = store && this.handlers.has(store) ? store : undefined;
    this.clientRequests += 1;
    if (handler) {
      handler.requests += 1;
      this.handlerRequests += 1;
    }
    this.touch();
    request.once('close', () => {
      this.clientRequests -= 1;
      if (handler) {
        handler.requests -= 1;
        this.handlerRequests -= 1;
      }
      this.touch();
      this.watch();
    });
  }

  /**
   * A modelled wait inside a request the emulator serves (its latency): not real work. `external`:
   * the request came from another process (a simulated host's command), so no client request of
   * this process stands for it.
   */
  async serverWait(ms: number, origin: { external?: boolean } = {}): Promise<void> {
    const external = origin.external === true;
    this.serverWaiting += 1;
    if (external) this.externalWaiting += 1;
    this.touch();
    try {
      await this.sleep(ms);
    } finally {
      this.serverWaiting -= 1;
      if (external) this.externalWaiting -= 1;
      this.touch();
    }
  }

  /**
   * Sleeps `ms` of virtual time: it ends on a jump, or (real-time mode) after `ms` real ms if work
   * is in flight all along.
   */
  sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.add({ at: this.now() + ms, seq: 0, run: resolve, waiter: this.running(), ref: true });
    });
  }

  /** The handler whose code is running, if any. */
  private running(): Work | undefined {
    const store = this.work.getStore();
    return store && this.handlers.has(store) ? store : undefined;
  }

  /** Handlers running with no request in flight and no virtual timer to wait for. */
  private computing(): Work[] {
    return [...this.handlers].filter((handler) => handler.requests === 0 && handler.waits === 0);
  }

  private idle(): boolean {
    // Real-time mode counts the handlers' requests only (its behaviour before compute-free mode):
    // anything else then runs at real speed, which that mode's clock does too.
    const requests = this.computeFree ? this.clientRequests : this.handlerRequests;
    return (
      this.computing().length === 0 &&
      requests === this.serverWaiting - this.externalWaiting &&
      this.serverRequests === this.serverWaiting &&
      !this.probes.some((probe) => probe())
    );
  }

  private add(timer: Timer): void {
    timer.seq = ++this.seq;
    this.timers.add(timer);
    if (timer.waiter) timer.waiter.waits += 1;
    if (!this.computeFree) this.arm(timer);
    this.touch();
    this.watch();
  }

  private remove(timer: Timer): void {
    if (!this.timers.delete(timer)) return;
    if (timer.waiter) timer.waiter.waits -= 1;
    if (timer.handle) real.clearTimeout(timer.handle);
    this.touch();
  }

  private nextAt(): number {
    let next = Infinity;
    for (const timer of this.timers) next = Math.min(next, timer.at);
    return next;
  }

  /**
   * Replaces `setTimeout`/`clearTimeout` (the global ones, and `node:timers`' exports, which middy
   * imports for its early timeout) with versions that make a timer set inside a handler virtual.
   * Global timers are what the SDK sleeps on (retry back-off, adaptive rate limiter, waiters):
   * a handler with one pending waits, it does not compute. `node:timers`' are middy's deadline,
   * pending for the whole invocation: they do not make the handler idle. (The SDK's HTTP handler
   * also sets global timers around each request, e.g. a socket-listener deferral; they are pending
   * only while that request is in flight, counted from its creation, which keeps the clock from
   * jumping by itself.) Outside handlers timers stay real. Returns the undo.
   */
  private installTimers(): () => void {
    const saved = {
      global: { setTimeout: globalThis.setTimeout, clearTimeout: globalThis.clearTimeout },
      module: { setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout },
    };
    const clear = (fallback: typeof clearTimeout) =>
      ((handle?: unknown) => {
        const timeout =
          handle instanceof VirtualTimeout
            ? handle
            : typeof handle === 'number' || typeof handle === 'string'
              ? this.timeouts.get(Number(handle))
              : undefined;
        if (timeout) timeout.close();
        else fallback(handle as NodeJS.Timeout);
      }) as typeof clearTimeout;
    globalThis.setTimeout = this.setTimeoutOf(saved.global.setTimeout, true);
    globalThis.clearTimeout = clear(saved.global.clearTimeout);
    timers.setTimeout = this.setTimeoutOf(saved.module.setTimeout, false);
    timers.clearTimeout = clear(saved.module.clearTimeout);
    syncBuiltinESMExports();
    return () => {
      Object.assign(globalThis, saved.global);
      Object.assign(timers, saved.module);
      syncBuiltinESMExports();
    };
  }

  /** A `setTimeout` whose timers set inside a handler are virtual; `awaited`: the handler waits on them. */
  private setTimeoutOf(fallback: typeof setTimeout, awaited: boolean): typeof setTimeout {
    return ((callback: unknown, ms?: unknown, ...args: unknown[]) => {
      const handler = this.running();
      if (!handler || typeof callback !== 'function')
        return (fallback as (...a: unknown[]) => NodeJS.Timeout)(callback, ms, ...args);
      // Even a 0 ms timer is virtual: the adaptive rate limiter sleeps fractions of a millisecond
      // until its bucket refills from Date.now(), which a real timer would never see move.
      const requested = Number(ms);
      const delay = requested >= 1 && requested <= TIMEOUT_MAX ? requested : 1;
      // The callback runs in the context it was set in, as a real timer's does.
      const run = AsyncResource.bind(() => (callback as (...a: unknown[]) => unknown)(...args));
      return this.timeout(run, delay, awaited ? handler : undefined);
    }) as typeof setTimeout;
  }

  private timeout(callback: () => unknown, ms: number, waiter: Work | undefined): VirtualTimeout {
    const id = this.nextTimeoutId++;
    const timer: Timer = {
      at: 0,
      seq: 0,
      waiter,
      ref: true,
      // Each callback in its own macrotask, as Node runs timers: a throw is an uncaught exception
      // there, not the end of the clock's loop.
      run: () => {
        this.timeouts.delete(id);
        setImmediate(callback);
      },
    };
    const handle = new VirtualTimeout(id, timer, {
      arm: () => {
        this.remove(timer);
        timer.at = this.now() + ms;
        this.timeouts.set(id, handle);
        this.add(timer);
      },
      cancel: () => {
        this.remove(timer);
        this.timeouts.delete(id);
      },
    });
    return handle.refresh();
  }

  /**
   * Real-time mode: the real timer behind a sleep, for when the clock does not jump. Node may fire
   * a timer a millisecond before `Date.now()` reaches its time; such a sleep is armed again rather
   * than left to a jump that may never come (a request outside any handler waiting on it keeps the
   * clock from jumping).
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

  /** Ends every sleep and runs every virtual timeout that is due, earliest (then oldest) first. */
  private fire(): void {
    const now = this.now();
    const due = [...this.timers]
      .filter((timer) => timer.at <= now)
      .sort((a, b) => a.at - b.at || a.seq - b.seq);
    for (const timer of due) {
      this.remove(timer);
      timer.run();
    }
    this.touch();
  }

  private anyRef(): boolean {
    for (const timer of this.timers) if (timer.ref) return true;
    return false;
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
        while (this.anyRef()) {
          const seen = this.epoch;
          await turn();
          await pause(2);
          await turn();
          if (this.epoch !== seen || !this.idle()) {
            if (!this.idle()) await pause(5);
            continue;
          }
          const ahead = this.nextAt() - this.now();
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
