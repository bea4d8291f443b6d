import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context } from 'aws-lambda';
import type { WorkflowOutcome } from '../../functions/record-lab-status/task.js';
import { awsClient } from '../../functions/shared/clients.js';
import { LabRegistry, documentClient } from '../../functions/shared/registry.js';
import { STARTABLE_WORKFLOWS, type StartableWorkflow } from '../../functions/shared/workflow-starter.js';
import { LOCAL_STACK_NAME } from '../deployment/artifacts.js';
import type { Emulator, ExecutionExecutor } from '../emulator/index.js';
import { lambdaServiceFor, type LambdaService } from '../runner/lambda-service.js';
import { startApiServer } from './http-server.js';
import { LocalWorkflowStarter, type LocalRun } from './local-starter.js';
import { routeFunctions } from './route-functions.js';

export interface ServeOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** The emulator, in this process: its StartExecution hands the executions it starts to `run`. */
  emulator: Emulator;
  /** Runs a workflow to its end: the local runner (`openTarget(...).run`) or a stand-in in tests. */
  run: LocalRun;
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
  /** The executions the API started, run here: list them, or wait until all have ended. */
  starter: LocalWorkflowStarter;
  /** Stops the HTTP server and forgets the workflows still running (their emulator is going away). */
  stop(): Promise<void>;
}

/**
 * The "Step Functions Execution Status Change" event the deployed EventBridge rule hands
 * record-lab-status when a lab workflow ends.
 */
export function statusChangeEvent(stateMachineArn: string, outcome: WorkflowOutcome, region: string) {
  const executionArn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${outcome.executionName}`;
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Step Functions Execution Status Change',
    source: 'aws.states',
    account: stateMachineArn.split(':')[4],
    time: new Date().toISOString(),
    region,
    resources: [executionArn],
    detail: {
      executionArn,
      stateMachineArn,
      name: outcome.executionName,
      status: outcome.status,
      input: JSON.stringify(outcome.input ?? {}),
      output: outcome.output === undefined ? null : JSON.stringify(outcome.output),
      error: outcome.error ?? null,
      cause: outcome.cause ?? null,
    },
  };
}

/**
 * A class's labs provision at most `maxConcurrent` at once: provision-class runs them in its own
 * Map, past the executions' bound, so its `maxConcurrency` (the API's class concurrency, from the
 * template) is lowered to it. A class of 30 on a laptop provisions a few labs at a time.
 */
export function boundedInput(workflow: StartableWorkflow, input: unknown, maxConcurrent: number): unknown {
  const limit = (input as { maxConcurrency?: unknown } | null)?.maxConcurrency;
  if (workflow !== 'provision-class' || typeof limit !== 'number' || limit <= maxConcurrent) return input;
  return { ...(input as object), maxConcurrency: maxConcurrent };
}

/**
 * The portal API on 127.0.0.1 against an emulator in this process, as deployed: each request
 * answered by its route's bundle (route-functions.ts), which starts workflows with StartExecution
 * on the emulator; the emulator hands each execution to `run` here, a few at a time, and each
 * lab workflow's end goes to the record-lab-status bundle as the deployed status-change rule sends it.
 */
export async function startServing(options: ServeOptions): Promise<Serving> {
  const region = process.env.AWS_REGION ?? 'us-east-1';
  const lambda = options.lambda ?? (await lambdaServiceFor(options.emulator.url, region));
  const machines = new Map<string, StartableWorkflow>();
  for (const workflow of STARTABLE_WORKFLOWS) {
    const machine = lambda.stack.stateMachines.get(`${LOCAL_STACK_NAME}-${workflow}`);
    if (machine) machines.set(machine.arn, workflow);
  }
  const arnOf = (workflow: StartableWorkflow) => [...machines].find(([, w]) => w === workflow)![0];
  const recordLabStatus = await lambda.resolveHandler('record-lab-status');
  const maxConcurrent = options.maxConcurrent ?? 3;
  const starter = new LocalWorkflowStarter(options.run, {
    maxConcurrent,
    async onSettled(outcome) {
      const event = statusChangeEvent(arnOf(outcome.workflow), outcome, region);
      await recordLabStatus(event, { awsRequestId: event.id } as Context);
    },
    log: options.log,
  });
  const executor: ExecutionExecutor = {
    runs: (arn) => machines.has(arn),
    run: ({ stateMachineArn, name, input }) => {
      const workflow = machines.get(stateMachineArn)!;
      return starter.execute(workflow, boundedInput(workflow, input, maxConcurrent), name);
    },
  };
  options.emulator.setExecutor(executor);
  const tableName = lambda.stack.functions.get('record-lab-status')!.environment.REGISTRY_TABLE!;
  const registry = new LabRegistry(documentClient(awsClient(DynamoDBClient)), tableName);
  let server;
  try {
    server = await startApiServer(routeFunctions(lambda, options.log), {
      port: options.port,
      log: options.log,
    });
  } catch (err) {
    options.emulator.setExecutor(undefined);
    throw err;
  }
  return {
    url: server.url,
    registry,
    starter,
    async stop() {
      starter.close();
      options.emulator.setExecutor(undefined);
      await server.close();
    },
  };
}
