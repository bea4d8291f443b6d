import { setTimeout as sleep } from 'node:timers/promises';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  SFNClient,
  StartExecutionCommand,
  type HistoryEvent,
} from '@aws-sdk/client-sfn';
import { awsClient, resetClients } from '../functions/shared/clients.js';
import { faultOptionsFromEnv } from '../local/emulator/faults.js';
import { startEmulator, type Emulator } from '../local/emulator/index.js';
import { stopLambdaServices } from '../local/runner/lambda-service.js';
import { runLocally, type ExecutionEvent, type LocalRunResult } from '../local/runner/runner.js';
import type { StateMachineName } from '../local/runner/definitions.js';

/** Where a command runs a workflow: a deployed stack, or the local runner against an emulator. */
export interface Target {
  kind: 'local' | 'deployed';
  describe: string;
  /** Local runs: real seconds per simulated second, shared by the emulator and the runner. */
  timeScale?: number;
  /** The emulator the target started in this process (local runs without AWS_ENDPOINT_URL). */
  emulator?: Emulator;
  run(
    name: StateMachineName,
    input: unknown,
    options: { executionName: string; onEvent?: (e: ExecutionEvent) => void },
  ): Promise<LocalRunResult>;
  close(): Promise<void>;
}

export interface TargetOptions {
  /** The deployed state machine ARNs by workflow; when absent the workflow runs locally. */
  stateMachineArns?: Partial<Record<StateMachineName, string>>;
  /** Real seconds per model second for local pauses and the emulator's delays. */
  timeScale?: number;
}

/**
 * Real seconds per simulated second for local runs the CLI starts. The registration script runs
 * real bash and simulated commands whose cost does not scale, so the simulated waits must leave
 * them room: at 0.05 the model's 10-minute execution timeout is 30 real seconds (0.02, 12 s, timed
 * out on a loaded 2-core machine).
 */
export const DEFAULT_LOCAL_TIME_SCALE = 0.05;

/**
 * Local mode uses the emulator at AWS_ENDPOINT_URL when one is set, else starts one for the
 * command and stops it on close. Deployed mode starts real executions with the SFN API.
 */
export async function openTarget(options: TargetOptions): Promise<Target> {
  if (options.stateMachineArns && Object.keys(options.stateMachineArns).length > 0)
    return deployedTarget(options.stateMachineArns);
  process.env.AWS_REGION ??= 'us-east-1';
  let emulator: Emulator | undefined;
  if (!process.env.AWS_ENDPOINT_URL) {
    emulator = await startEmulator({
      time: { scale: options.timeScale ?? DEFAULT_LOCAL_TIME_SCALE },
      // A bad night on AWS, for trying the product's resilience (local/emulator/faults.ts).
      faults: faultOptionsFromEnv(),
      // moto's first IAM and EC2 requests take seconds: done while the task modules load.
      warmRegion: process.env.AWS_REGION,
    });
    process.env.AWS_ENDPOINT_URL = emulator.url;
    process.env.AWS_ACCESS_KEY_ID ??= 'testing';
    process.env.AWS_SECRET_ACCESS_KEY ??= 'testing';
    resetClients();
  }
  const timeScale = options.timeScale ?? emulator?.clock.profile.scale ?? DEFAULT_LOCAL_TIME_SCALE;
  return {
    kind: 'local',
    timeScale,
    emulator,
    describe: emulator
      ? `local emulator started at ${emulator.url}`
      : `local emulator at ${process.env.AWS_ENDPOINT_URL}`,
    run: (name, input, run) =>
      runLocally(name, { input, executionName: run.executionName, onEvent: run.onEvent, timeScale }),
    async close() {
      await stopLambdaServices(process.env.AWS_ENDPOINT_URL);
      if (!emulator) return;
      await emulator.stop();
      delete process.env.AWS_ENDPOINT_URL;
      resetClients();
    },
  };
}

/** Maps the service's history events onto the local runner's event shape, so progress prints the same. */
function toExecutionEvent(
  event: HistoryEvent,
  name: StateMachineName,
  types: Map<number, string>,
): ExecutionEvent | undefined {
  const timestamp = event.timestamp?.getTime() ?? Date.now();
  const entered = event.stateEnteredEventDetails;
  const exited = event.stateExitedEventDetails;
  const kind = String(event.type);
  if (entered) {
    const stateType = kind.replace(/StateEntered$/, '');
    types.set(Number(event.id), stateType);
    return { type: 'StateEntered', timestamp, state: entered.name, stateType, stateMachine: name };
  }
  if (exited)
    return {
      type: 'StateExited',
      timestamp,
      state: exited.name,
      stateType: kind.replace(/StateExited$/, ''),
      stateMachine: name,
    };
  if (kind === 'ExecutionFailed') {
    const details = event.executionFailedEventDetails;
    return {
      type: 'ExecutionFailed',
      timestamp,
      error: details?.error,
      cause: details?.cause,
      stateMachine: name,
    };
  }
  return undefined;
}

function deployedTarget(arns: Partial<Record<StateMachineName, string>>): Target {
  const sfn = awsClient(SFNClient);
  return {
    kind: 'deployed',
    describe: 'deployed state machines',
    async run(name, input, { executionName, onEvent }) {
      const stateMachineArn = arns[name];
      if (!stateMachineArn) throw new Error(`no state machine ARN configured for ${name}`);
      const { executionArn } = await sfn.send(
        new StartExecutionCommand({ stateMachineArn, name: executionName, input: JSON.stringify(input) }),
      );
      const events: ExecutionEvent[] = [];
      const types = new Map<number, string>();
      let lastId = 0;
      for (;;) {
        // Re-read the history each poll and skip what was seen: simple, and correct across pages.
        let nextToken: string | undefined;
        do {
          const page = await sfn.send(
            new GetExecutionHistoryCommand({ executionArn, nextToken, maxResults: 1000 }),
          );
          for (const raw of page.events ?? []) {
            if (Number(raw.id) <= lastId) continue;
            lastId = Number(raw.id);
            const event = toExecutionEvent(raw, name, types);
            if (event) {
              events.push(event);
              onEvent?.(event);
            }
          }
          nextToken = page.nextToken;
        } while (nextToken);
        const execution = await sfn.send(new DescribeExecutionCommand({ executionArn }));
        if (execution.status === 'SUCCEEDED') {
          return {
            status: 'SUCCEEDED',
            executionName,
            output: JSON.parse(execution.output ?? 'null'),
            events,
          };
        }
        if (execution.status !== 'RUNNING' && execution.status !== 'PENDING_REDRIVE') {
          return {
            status: 'FAILED',
            executionName,
            error: execution.error ?? execution.status,
            cause: execution.cause,
            events,
          };
        }
        await sleep(2000);
      }
    },
    async close() {},
  };
}
