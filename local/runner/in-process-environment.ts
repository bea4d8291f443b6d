import { AsyncLocalStorage } from 'node:async_hooks';
import { pathToFileURL } from 'node:url';
import type { Context } from 'aws-lambda';
import {
  LambdaInvocationError,
  type Environment,
  type LambdaContextFields,
} from './execution-environment.js';

type Handler = (event: unknown, context: Context) => Promise<unknown>;

/**
 * The environment variables of the invocation running in the current async context. A worker thread
 * has a process.env of its own; a bundle loaded in this process shares this process's, so
 * process.env is replaced once by a view that answers the running function's variables inside its
 * invocations (and its module's evaluation) and this process's own everywhere else.
 */
const scopedEnvironment = new AsyncLocalStorage<Record<string, string>>();

function installScopedEnvironment(): void {
  if ((process.env as { [SCOPED]?: true })[SCOPED]) return;
  const own = process.env;
  const current = () => scopedEnvironment.getStore() ?? own;
  process.env = new Proxy(own, {
    get: (_, key) => (key === SCOPED ? true : typeof key === 'string' ? current()[key] : undefined),
    set: (_, key, value) => Reflect.set(current(), key, String(value)),
    has: (_, key) => key in current(),
    deleteProperty: (_, key) => Reflect.deleteProperty(current(), key),
    ownKeys: () => Reflect.ownKeys(current()),
    getOwnPropertyDescriptor: (_, key) => {
      const value = current()[key as string];
      return value === undefined
        ? undefined
        : { value, writable: true, enumerable: true, configurable: true };
    },
  });
}
const SCOPED = Symbol('session-lab.scopedEnvironment');

let instances = 0;
/**
 * Bundles load one at a time: module evaluation of concurrent imports may run in another import's
 * async context (seen under Jest's loader), which would give a module another function's variables.
 */
let loading: Promise<unknown> = Promise.resolve();

/**
 * A function's execution environment in this process: its bundle loaded as a module instance of its
 * own (the same file under another URL), run with its own environment variables and credentials.
 * For the benchmark, whose virtual clock sees only this process's work (a worker thread's timers
 * and requests are out of its sight); everything else runs bundles in worker threads.
 */
export class InProcessEnvironment implements Environment {
  readonly ready: Promise<void>;
  private readonly handler: Promise<Handler>;
  private readonly running = new Set<number>();
  private readonly listeners: (() => void)[] = [];
  private nextId = 0;

  /** `bundleFile`: the function's bundle (`dist/functions/<name>/index.mjs`). */
  constructor(
    bundleFile: string,
    private readonly env: Record<string, string>,
  ) {
    installScopedEnvironment();
    const url = `${pathToFileURL(bundleFile).href}?instance=${++instances}`;
    const load = () =>
      scopedEnvironment.run(this.env, async () => {
        try {
          const { handler } = (await import(url)) as { handler?: unknown };
          if (typeof handler !== 'function') throw new Error(`${bundleFile} exports no handler`);
          return handler as Handler;
        } catch (err) {
          throw new LambdaInvocationError('Runtime.ImportModuleError', (err as Error).message);
        }
      });
    this.handler = loading.then(load);
    loading = this.handler.catch(() => undefined);
    this.ready = this.handler.then(() => undefined);
    this.ready.catch(() => undefined);
  }

  get inFlight(): number {
    return this.running.size;
  }

  invoke(event: unknown, context: LambdaContextFields): { id: number; result: Promise<unknown> } {
    const id = this.nextId++;
    this.running.add(id);
    const result = scopedEnvironment.run(this.env, async () => {
      try {
        const handler = await this.handler;
        const deadline = Date.now() + context.remainingMs;
        const lambdaContext = {
          ...context,
          callbackWaitsForEmptyEventLoop: true,
          getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
        } as unknown as Context;
        // Lambda hands over the result serialized as JSON; undefined becomes null.
        return JSON.parse(JSON.stringify((await handler(event, lambdaContext)) ?? null)) as unknown;
      } catch (err) {
        if (err instanceof LambdaInvocationError) throw err;
        // The runtime reports the thrown error's own `name` as the error type.
        const error = err instanceof Error ? err : new Error(String(err));
        throw new LambdaInvocationError(error.name, error.message);
      } finally {
        this.running.delete(id);
      }
    });
    return { id, result };
  }

  abandon(id: number): void {
    this.running.delete(id);
  }

  /** A module cannot be unloaded: the environment is only forgotten, and its work runs on unobserved. */
  async stop(): Promise<void> {
    for (const listener of this.listeners.splice(0)) listener();
  }

  onEnd(listener: () => void): void {
    this.listeners.push(listener);
  }
}
