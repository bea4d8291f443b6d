import type { Server } from 'node:http';
import { startMoto, warmMoto, type MotoServer } from './moto.js';
import { freePort } from './net.js';
import { FaultInjector, faultControls, type FaultOptions } from './faults.js';
import { createEmulatorServer } from './server.js';
import { killHostProcesses } from './services/host-exec.js';
import { controls, managedNode, services } from './services/index.js';
import { setExecutionExecutor, type ExecutionExecutor } from './services/step-functions.js';
import { Clock, timeProfile, type TimeProfile } from './time.js';
import { Traffic } from './traffic.js';

export { ACCOUNT_ID } from './context.js';
export type { TimeProfile } from './time.js';
export type { FaultOptions, FaultStats } from './faults.js';
export type { TrafficStats } from './traffic.js';
export type { ExecutionExecutor, ExecutionOutcome, StartedExecution } from './services/step-functions.js';

export interface Emulator {
  /** The endpoint to put in AWS_ENDPOINT_URL. */
  url: string;
  motoUrl: string;
  clock: Clock;
  /** Fault injection: reconfigure it (`configure`) or read what it injected (`snapshot`). */
  faults: FaultInjector;
  /** Calls per operation, rate limits and latency (traffic.ts): read `stats()`. */
  traffic: Traffic;
  /**
   * Who runs the executions StartExecution starts (services/step-functions.ts), and so which state
   * machines exist; undefined removes it. The emulator imports no runner: `serve` passes its own.
   */
  setExecutor(executor: ExecutionExecutor | undefined): void;
  stop(): Promise<void>;
}

export interface EmulatorOptions {
  /** Port for the endpoint; a free one when omitted. moto always gets a free port. */
  port?: number;
  /** Overrides of the time profile (scale and delays). */
  time?: Partial<TimeProfile>;
  /** Faults to inject (faults.ts); none when omitted. Deterministic for a seed. */
  faults?: FaultOptions;
  /** Warm moto's IAM and EC2 backends for this Region in the background (moto.ts warmMoto). */
  warmRegion?: string;
  /**
   * A moto server to use instead of starting one: it is reset first and left running by `stop()`.
   * The tests keep one per Jest worker (test/helpers/moto-pool.ts): starting moto and building its
   * backends costs seconds of CPU, a reset a fraction of that.
   */
  moto?: MotoServer;
}

/** Starts moto and the session-lab endpoint in front of it; `stop()` ends both. */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const shared = options.moto;
  if (shared) await shared.reset();
  const moto = shared ?? (await startMoto());
  if (options.warmRegion) warmMoto(moto.url, options.warmRegion);
  const clock = new Clock(timeProfile(options.time));
  let server: Server | undefined;
  let context: ReturnType<typeof createEmulatorServer>['context'] | undefined;
  try {
    const port = options.port ?? (await freePort());
    const iamPropagationSeconds = clock.profile.iamVisibilitySeconds || undefined;
    const faults = new FaultInjector({ iamPropagationSeconds, ...options.faults });
    const traffic = new Traffic(clock);
    ({ server, context } = createEmulatorServer({
      motoUrl: moto.url,
      clock,
      services,
      managedNode,
      controls: faults.wrapControls({ ...controls, ...faultControls(faults) }),
      faults,
      traffic,
    }));
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(port, '127.0.0.1', resolve);
    });
    const url = `http://127.0.0.1:${port}`;
    return {
      url,
      motoUrl: moto.url,
      clock,
      faults,
      traffic,
      setExecutor: (executor) => setExecutionExecutor(context!(url), executor),
      async stop() {
        // Run Command scripts still running on simulated hosts end with the emulator.
        killHostProcesses(url);
        server!.closeAllConnections();
        await new Promise((resolve) => server!.close(resolve));
        if (!shared) await moto.stop();
      },
    };
  } catch (err) {
    server?.close();
    if (!shared) await moto.stop();
    throw err;
  }
}
