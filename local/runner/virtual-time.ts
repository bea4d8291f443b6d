/**
 * A virtual clock for the benchmark: one process's `Date` runs at real speed while real work is in
 * flight (a Lambda handler running, a Run Command script running, anything a busy probe reports) and
 * jumps ahead to the next pending sleep when nothing is. The runner's Wait states and Retry pauses
 * sleep on it; the emulator's modelled delays compare `Date.now()` with a start, so they are on it
 * too (at time scale 1). Real compute is therefore counted at its real duration and every modelled
 * wait at its modelled one, without waiting for it.
 *
 * Sound as long as all real work is visible: Lambda handlers (the runner wraps them in `busy`),
 * Run Command scripts (a probe) and the emulator calls they make (inside those). A jump happens only
 * after the process has been idle for several event-loop turns with no activity in between.
 * Processes other than this one (moto) keep real time; nothing in the workflow compares their
 * timestamps with ours.
 */
const RealDate = Date;

interface Timer {
  at: number;
  resolve: () => void;
  handle: NodeJS.Timeout;
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class VirtualTime {
  private offsetMs = 0;
  private readonly timers = new Set<Timer>();
  private readonly probes: (() => boolean)[] = [];
  private busyCount = 0;
  private epoch = 0;
  private watching = false;
  private restore: (() => void) | undefined;
  /** Model milliseconds skipped by jumps, and how many jumps. */
  skippedMs = 0;
  jumps = 0;

  now(): number {
    return RealDate.now() + this.offsetMs;
  }

  /** Makes `Date` (now, `new Date()`, `Date()`) read this clock, process-wide, until `uninstall`. */
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
    this.restore = () => {
      globalThis.Date = RealDate;
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

  /** Records activity: a jump needs a quiet spell with none. */
  touch(): void {
    this.epoch += 1;
  }

  /** Runs real work: the clock runs at real speed (never jumps) until it settles. */
  async busy<T>(work: () => Promise<T>): Promise<T> {
    this.busyCount += 1;
    this.touch();
    try {
      return await work();
    } finally {
      this.busyCount -= 1;
      this.touch();
      this.watch();
    }
  }

  /** Sleeps `ms` of virtual time: at real speed while work is in flight, at once when none is. */
  sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer: Timer = {
        at: this.now() + ms,
        resolve,
        handle: setTimeout(() => this.fire(), ms),
      };
      this.timers.add(timer);
      this.touch();
      this.watch();
    });
  }

  private idle(): boolean {
    return this.busyCount === 0 && !this.probes.some((probe) => probe());
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
