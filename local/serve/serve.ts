import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  outcomeToStatus,
  recordLabStatus,
  type WorkflowOutcome,
} from '../../functions/record-lab-status/task.js';
import { apiLimitsFromEnv, type ApiLimits } from '../../functions/shared/api.js';
import { awsClient } from '../../functions/shared/clients.js';
import { LabRegistry, documentClient } from '../../functions/shared/registry.js';
import { startApiServer } from './http-server.js';
import { LocalWorkflowStarter, type LocalRun } from './local-starter.js';
import { LOCAL_REGISTRY_TABLE, ensureRegistryTable } from './registry-table.js';

export interface ServeOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Runs a workflow to its end: the local runner (`openTarget(...).run`) or a stand-in in tests. */
  run: LocalRun;
  /**
   * The registry the API reads and writes. The deployed functions write the local deployment's
   * table (LOCAL_REGISTRY_TABLE, what their template environment names), so a `serve` running
   * the real workflows keeps the default; a test with stand-in workflows may use its own.
   */
  tableName?: string;
  maxConcurrent?: number;
  log?: (line: string) => void;
}

export interface Serving {
  url: string;
  registry: LabRegistry;
  starter: LocalWorkflowStarter;
  /** Stops the HTTP server and forgets the workflows still running (their emulator is going away). */
  stop(): Promise<void>;
}

/** Records an ended execution in the registry, as the deployed status-change rule does. */
export function recordOutcome(registry: LabRegistry) {
  return async (outcome: WorkflowOutcome) => {
    const status = outcomeToStatus(outcome);
    if (status) await recordLabStatus(status, { registry });
  };
}

/**
 * The API's limits (the environment's, as deployed), a class's concurrency capped by the workflows
 * this process runs at once: a class of 30 on a laptop provisions a few labs at a time.
 */
export function localLimits(maxConcurrent = 3): ApiLimits {
  const limits = apiLimitsFromEnv();
  return { ...limits, maxClassConcurrency: Math.min(limits.maxClassConcurrency, maxConcurrent) };
}

/**
 * The portal API on 127.0.0.1 against the emulator the SDK reaches (AWS_ENDPOINT_URL): the
 * registry table created there if missing, REGISTRY_TABLE set for the in-process tasks (so they
 * record their progress), workflows run in the background by `run`.
 */
export async function startServing(options: ServeOptions): Promise<Serving> {
  const tableName = options.tableName ?? process.env.REGISTRY_TABLE ?? LOCAL_REGISTRY_TABLE;
  const previousTable = process.env.REGISTRY_TABLE;
  process.env.REGISTRY_TABLE = tableName;
  const dynamodb = awsClient(DynamoDBClient);
  await ensureRegistryTable(dynamodb, tableName);
  const registry = new LabRegistry(documentClient(dynamodb), tableName);
  const starter = new LocalWorkflowStarter(options.run, {
    maxConcurrent: options.maxConcurrent,
    onSettled: recordOutcome(registry),
    log: options.log,
  });
  const server = await startApiServer(
    { registry, starter, limits: localLimits(options.maxConcurrent) },
    { port: options.port, log: options.log },
  );
  return {
    url: server.url,
    registry,
    starter,
    async stop() {
      starter.close();
      await server.close();
      if (previousTable === undefined) delete process.env.REGISTRY_TABLE;
      else process.env.REGISTRY_TABLE = previousTable;
    },
  };
}
