import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import type { WorkflowOutcome } from '../../functions/record-lab-status/task.js';
import { STARTABLE_WORKFLOWS, type StartableWorkflow } from '../../functions/shared/workflow-starter.js';
import { LOCAL_STACK_NAME } from '../deployment/artifacts.js';
import type { Emulator, ExecutionExecutor } from '../emulator/index.js';
import type { LambdaService } from '../runner/lambda-service.js';
import { LocalWorkflowStarter, type LocalRun } from './local-starter.js';

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

export interface WorkflowHostOptions {
  /** The emulator whose StartExecution hands its executions to this process. */
  emulator: Emulator;
  /** The local deployment: its state machines are those that exist, its functions run the rule. */
  lambda: LambdaService;
  /** Runs a workflow to its end: the local runner, or a stand-in in tests. */
  run: LocalRun;
  /** Workflows run at once, a class's labs included. */
  maxConcurrent?: number;
  region: string;
  log?: (line: string) => void;
}

export interface WorkflowHost {
  /** The executions started through the emulator, run here: list them, or wait for them. */
  starter: LocalWorkflowStarter;
  /** Takes the executor back from the emulator and forgets what still runs. */
  close(): void;
}

/**
 * Step Functions for an emulator in this process, as the deployed stack has it: StartExecution on
 * one of the deployment's state machines (the workflows the API and the schedule start) runs it
 * here, a few at a time, and each lab workflow's end goes to the record-lab-status bundle as the
 * deployed status-change rule sends it. `session-lab serve` and `session-lab emulator start` host
 * their emulator's executions this way.
 */
export async function hostWorkflows(options: WorkflowHostOptions): Promise<WorkflowHost> {
  const { emulator, lambda, region } = options;
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
  emulator.setExecutor(executor);
  return {
    starter,
    close() {
      starter.close();
      emulator.setExecutor(undefined);
    },
  };
}
