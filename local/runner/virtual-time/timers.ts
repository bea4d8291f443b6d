import { AsyncResource } from 'node:async_hooks';
import { syncBuiltinESMExports } from 'node:module';
import timers from 'node:timers';
import type { Activity, Work } from './work.js';

/**
 * The virtual clock's timer layer (see virtual-time.ts): the pending sleeps and virtual timeouts,
 * due in clock time, fired in order when the clock reaches them, and (compute-free) the
 * `setTimeout` a handler calls made virtual.
 */

/** The timer functions before any install: the clock's own pauses use them, whatever is installed. */
export const real = { setTimeout: globalThis.setTimeout, clearTimeout: globalThis.clearTimeout };
/** Node runs a timer whose delay is outside [1, TIMEOUT_MAX] after 1 ms; so does a virtual one. */
const TIMEOUT_MAX = 2 ** 31 - 1;

export interface Timer {
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

/** What the timers need of the clock. */
export interface TimerClock extends Activity {
  readonly computeFree: boolean;
  now(): number;
  /** The handler whose code is running, if any. */
  running(): Work | undefined;
}

export class TimerQueue {
  private seq = 0;
  private readonly timers = new Set<Timer>();
  /** Virtual timeouts pending, by the id they convert to (`clearTimeout` accepts the number). */
  private readonly timeouts = new Map<number, VirtualTimeout>();
  /** Far from the small integers Node gives its own timers, so a number id names one or the other. */
  private nextTimeoutId = 2 ** 40;

  constructor(private readonly clock: TimerClock) {}

  get size(): number {
    return this.timers.size;
  }

  /** Forgets every timer (and stops their real ones). */
  clear(): void {
    for (const timer of this.timers) real.clearTimeout(timer.handle);
    this.timers.clear();
    this.timeouts.clear();
  }

  add(timer: Timer): void {
    timer.seq = ++this.seq;
    this.timers.add(timer);
    if (timer.waiter) timer.waiter.waits += 1;
    if (!this.clock.computeFree) this.arm(timer);
    this.clock.touch();
    this.clock.watch();
  }

  private remove(timer: Timer): void {
    if (!this.timers.delete(timer)) return;
    if (timer.waiter) timer.waiter.waits -= 1;
    if (timer.handle) real.clearTimeout(timer.handle);
    this.clock.touch();
  }

  nextAt(): number {
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
  install(): () => void {
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
      const handler = this.clock.running();
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
        timer.at = this.clock.now() + ms;
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
      Math.max(timer.at - this.clock.now(), 1),
    );
  }

  /** Ends every sleep and runs every virtual timeout that is due, earliest (then oldest) first. */
  fire(): void {
    const now = this.clock.now();
    const due = [...this.timers]
      .filter((timer) => timer.at <= now)
      .sort((a, b) => a.at - b.at || a.seq - b.seq);
    for (const timer of due) {
      this.remove(timer);
      timer.run();
    }
    this.clock.touch();
  }

  anyRef(): boolean {
    for (const timer of this.timers) if (timer.ref) return true;
    return false;
  }
}
