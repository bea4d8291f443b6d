// One Lambda execution environment: a worker thread that loads one function's bundle (the file the
// stack deploys) with that function's environment and runs its invocations, each answered by id.
// Plain JavaScript: Node loads it as it is, no TypeScript loader in the worker.
import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';

// The template sets NODE_OPTIONS=--enable-source-maps, which a worker cannot take: same effect.
process.setSourceMapsEnabled?.(true);

const { handler } = await import(pathToFileURL(workerData.bundle).href);
if (typeof handler !== 'function') throw new Error(`${workerData.bundle} exports no handler`);

parentPort.on('message', async ({ id, event, context }) => {
  const deadline = Date.now() + context.remainingMs;
  const lambdaContext = {
    ...context,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
  try {
    const result = await handler(event, lambdaContext);
    // Lambda returns the result serialized as JSON; undefined becomes null.
    parentPort.postMessage({ id, ok: true, payload: JSON.stringify(result ?? null) });
  } catch (err) {
    // The runtime reports the thrown error's own `name` as the error type.
    const errorType = err instanceof Error ? err.name : 'Error';
    const errorMessage = err instanceof Error ? err.message : String(err);
    parentPort.postMessage({ id, ok: false, errorType, errorMessage });
  }
});
parentPort.postMessage({ ready: true });
