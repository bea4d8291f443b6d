import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { awsClient } from '../../functions/shared/clients.js';
import { LabRegistry } from '../../functions/shared/registry/lab-registry.js';
import { documentClient } from '../../functions/shared/registry/table.js';
import type { Emulator } from '../emulator/index.js';
import { lambdaServiceFor, type LambdaService } from '../runner/lambda-service.js';
import { startApiServer } from './http-server.js';
import type { LocalRun, LocalWorkflowStarter } from './local-starter.js';
import { routeFunctions } from './route-functions.js';
import { hostWorkflows, type WorkflowHost } from './workflow-host.js';

export interface ServeOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /**
   * The emulator, when it runs in this process: its StartExecution hands the executions it starts
   * to `run` here. Without it, the emulator at AWS_ENDPOINT_URL runs them itself (it was started by
   * `session-lab emulator start`, which hosts its executions).
   */
  emulator?: Emulator;
  /** Runs a workflow to its end: the local runner (`openTarget(...).run`) or a stand-in in tests. */
  run?: LocalRun;
  /**
   * The local deployment whose route functions answer the API (and whose state machines exist):
   * by default the synthesized template's, deployed into the emulator. A test may pass one of a
   * template synthesized with other context.
   */
  lambda?: LambdaService;
  /** Workflows run at once (`--max-concurrent`), a class's labs included. */
  maxConcurrent?: number;
  log?: (line: string) => void;
}

export interface Serving {
  url: string;
  /** The lab registry the deployment's functions write, read with the caller's credentials. */
  registry: LabRegistry;
  /** The executions the API started, when they run in this process: list them, or wait for them. */
  starter?: LocalWorkflowStarter;
  /** Stops the HTTP server and forgets the workflows still running (their emulator is going away). */
  stop(): Promise<void>;
}

/**
 * The portal API on 127.0.0.1 against the emulator, as deployed: each request answered by its
 * route's bundle (route-functions.ts), which starts workflows with StartExecution on the
 * emulator. An emulator in this process hands those executions to `run` here (workflow-host.ts).
 */
/** Serving with an emulator in this process: the executions run here. */
export type HostingServing = Serving & { starter: LocalWorkflowStarter };

export async function startServing(
  options: ServeOptions & { emulator: Emulator; run: LocalRun },
): Promise<HostingServing>;
export async function startServing(options: ServeOptions): Promise<Serving>;
export async function startServing(options: ServeOptions): Promise<Serving> {
  const region = process.env.AWS_REGION ?? 'us-east-1';
  const endpoint = options.emulator?.url ?? process.env.AWS_ENDPOINT_URL;
  if (!endpoint) throw new Error('serve needs an emulator: pass one, or set AWS_ENDPOINT_URL');
  const lambda = options.lambda ?? (await lambdaServiceFor(endpoint, region));
  let host: WorkflowHost | undefined;
  if (options.emulator) {
    if (!options.run) throw new Error('serve runs its emulator’s executions: pass `run`');
    host = await hostWorkflows({
      emulator: options.emulator,
      lambda,
      run: options.run,
      maxConcurrent: options.maxConcurrent,
      region,
      log: options.log,
    });
  }
  const tableName = lambda.stack.functions.get('record-lab-status')!.environment.REGISTRY_TABLE!;
  const registry = new LabRegistry(documentClient(awsClient(DynamoDBClient)), tableName);
  let server;
  try {
    server = await startApiServer(routeFunctions(lambda, options.log), {
      port: options.port,
      log: options.log,
    });
  } catch (err) {
    host?.close();
    throw err;
  }
  return {
    url: server.url,
    registry,
    starter: host?.starter,
    async stop() {
      host?.close();
      await server.close();
    },
  };
}
