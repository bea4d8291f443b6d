import { AsyncLocalStorage } from 'node:async_hooks';
import http, { type ClientRequest } from 'node:http';
import https from 'node:https';
import { syncBuiltinESMExports } from 'node:module';

/**
 * The virtual clock's work accounting (see virtual-time.ts): which Lambda handlers are running and
 * whether each is computing, the HTTP requests in flight on both sides of the emulator, the waits
 * inside its requests, and the busy probes; from them, whether all is idle, so the clock may jump.
 */

export interface Work {
  /** What the handler is (a state name), for `state()`. */
  label: string;
  /** HTTP requests of this handler in flight. */
  requests: number;
  /** Virtual timers this handler waits on (compute-free mode). */
  waits: number;
}

/** What the accounting tells the clock: activity (no jump during a quiet spell) and a chance to jump. */
export interface Activity {
  touch(): void;
  watch(): void;
}

export class WorkAccounting {
  private readonly probes: (() => boolean)[] = [];
  private readonly work = new AsyncLocalStorage<Work>();
  /** Handlers running (`busy`). */
  private readonly handlers = new Set<Work>();
  /** Client requests in flight (all, and the handlers'), server requests in flight and waiting. */
  private clientRequests = 0;
  private handlerRequests = 0;
  private serverRequests = 0;
  private serverWaiting = 0;
  /** Of the server requests waiting, those another process sent (no client request here). */
  private externalWaiting = 0;
  /** Client requests counted (from their creation, or from Node's start report). */
  private readonly counted = new WeakSet<ClientRequest>();

  constructor(
    private readonly computeFree: boolean,
    private readonly activity: Activity,
  ) {}

  /** Real work elsewhere (e.g. a running script) the clock must not jump over while it reports true. */
  addBusyProbe(probe: () => boolean): void {
    this.probes.push(probe);
  }

  /** The counters deciding whether the clock may jump. */
  state() {
    return {
      handlers: this.handlers.size,
      computing: this.computing().map((handler) => handler.label),
      clientRequests: this.clientRequests,
      handlerRequests: this.handlerRequests,
      serverRequests: this.serverRequests,
      serverWaiting: this.serverWaiting,
      externalWaiting: this.externalWaiting,
      probesBusy: this.probes.filter((probe) => probe()).length,
    };
  }

  /**
   * Runs a handler: real work, except while it waits on its HTTP requests or its virtual timers.
   * `label` names it in `state()`.
   */
  async busy<T>(work: () => Promise<T>, label = 'handler'): Promise<T> {
    const state: Work = { label, requests: 0, waits: 0 };
    this.handlers.add(state);
    this.activity.touch();
    try {
      return await this.work.run(state, work);
    } finally {
      this.handlers.delete(state);
      this.activity.touch();
      this.activity.watch();
    }
  }

  /** The handler whose code is running, if any. */
  running(): Work | undefined {
    const store = this.work.getStore();
    return store && this.handlers.has(store) ? store : undefined;
  }

  /** Node's report that the emulator's server started serving a request. */
  serverStarted(): void {
    this.serverRequests += 1;
    this.activity.touch();
  }

  /** Node's report that the emulator's server finished a response. */
  serverFinished(): void {
    this.serverRequests -= 1;
    this.activity.touch();
    this.activity.watch();
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
  countRequestsFromCreation(): () => void {
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

  clientRequest(request: ClientRequest): void {
    if (this.counted.has(request)) return;
    this.counted.add(request);
    const store = this.work.getStore();
    const handler = store && this.handlers.has(store) ? store : undefined;
    this.clientRequests += 1;
    if (handler) {
      handler.requests += 1;
      this.handlerRequests += 1;
    }
    this.activity.touch();
    request.once('close', () => {
      this.clientRequests -= 1;
      if (handler) {
        handler.requests -= 1;
        this.handlerRequests -= 1;
      }
      this.activity.touch();
      this.activity.watch();
    });
  }

  /**
   * A modelled wait inside a request the emulator serves (its latency), slept with `sleep`: not
   * real work. `external`: the request came from another process (a simulated host's command), so
   * no client request of this process stands for it.
   */
  async serverWait(sleep: () => Promise<void>, external: boolean): Promise<void> {
    this.serverWaiting += 1;
    if (external) this.externalWaiting += 1;
    this.activity.touch();
    try {
      await sleep();
    } finally {
      this.serverWaiting -= 1;
      if (external) this.externalWaiting -= 1;
      this.activity.touch();
    }
  }

  /** Handlers running with no request in flight and no virtual timer to wait for. */
  private computing(): Work[] {
    return [...this.handlers].filter((handler) => handler.requests === 0 && handler.waits === 0);
  }

  idle(): boolean {
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
}
