import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

const WORKER = fileURLToPath(new URL('./lambda-worker.mjs', import.meta.url));

/** An error as Lambda reports it: `name` is the error type Step Functions matches. */
export class LambdaInvocationError extends Error {
  constructor(errorType: string, message: string) {
    super(message);
    this.name = errorType;
  }
}

type Reply = {
  id?: number;
  ready?: boolean;
  ok?: boolean;
  payload?: string;
  errorType?: string;
  errorMessage?: string;
};

/** What the Lambda service needs of an execution environment, wherever its bundle runs. */
export interface Environment {
  readonly ready: Promise<void>;
  /** Invocations running in it. */
  readonly inFlight: number;
  invoke(event: unknown, context: LambdaContextFields): { id: number; result: Promise<unknown> };
  /** Gives up on one invocation (its timeout); it keeps running in the environment. */
  abandon(id: number): void;
  /** Ends the environment; `onEnd` listeners learn of it. */
  stop(): Promise<void>;
  onEnd(listener: () => void): void;
}

/** The Lambda context's plain fields, and the time the invocation may run. */
export type LambdaContextFields = Record<string, unknown> & { remainingMs: number };

/**
 * A function's execution environment: its bundle loaded once in a worker thread with its own
 * environment variables and credentials. Invocations are answered by id.
 */
export class ExecutionEnvironment implements Environment {
  readonly worker: Worker;
  readonly ready: Promise<void>;
  private readonly pending = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (err: Error) => void }
  >();
  private nextId = 0;
  exited = false;

  /** `bundleFile`: the function's bundle; `memoryMb`: its memory, the worker's heap limit. */
  constructor(bundleFile: string, env: Record<string, string>, memoryMb: number) {
    this.worker = new Worker(WORKER, {
      workerData: { bundle: bundleFile },
      env,
      resourceLimits: { maxOldGenerationSizeMb: memoryMb },
    });
    this.worker.unref();
    this.ready = new Promise((resolve, reject) => {
      this.worker.once('message', () => resolve());
      // An error at cold start (a missing variable, a bad import) is the function's init error.
      this.worker.once('error', (err) =>
        reject(
          new LambdaInvocationError(
            err.name === 'Error' ? 'Runtime.ImportModuleError' : err.name,
            err.message,
          ),
        ),
      );
    });
    this.ready.catch(() => undefined);
    this.worker.on('message', (message: Reply) => {
      if (message.ready || message.id === undefined) return;
      const pending = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (!pending) return;
      if (message.ok) pending.resolve(JSON.parse(message.payload ?? 'null'));
      else
        pending.reject(new LambdaInvocationError(message.errorType ?? 'Error', message.errorMessage ?? ''));
    });
    const failAll = (err: Error) => {
      for (const pending of this.pending.values()) pending.reject(err);
      this.pending.clear();
    };
    this.worker.on('error', (err) => failAll(new LambdaInvocationError('Runtime.ExitError', err.message)));
    this.worker.on('exit', (code) => {
      this.exited = true;
      failAll(new LambdaInvocationError('Runtime.ExitError', `the runtime exited with code ${code}`));
    });
  }

  get inFlight(): number {
    return this.pending.size;
  }

  invoke(event: unknown, context: LambdaContextFields): { id: number; result: Promise<unknown> } {
    const id = this.nextId++;
    const result = new Promise<unknown>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, event, context });
    });
    return { id, result };
  }

  abandon(id: number): void {
    this.pending.delete(id);
  }

  async stop(): Promise<void> {
    await this.worker.terminate();
  }

  onEnd(listener: () => void): void {
    this.worker.once('exit', listener);
  }
}
