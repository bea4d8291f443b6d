import { createHash, randomBytes } from 'node:crypto';
import { StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import * as z from 'zod';
import { readEnv } from './env.js';
import { ConfigurationError, isErrorNamed } from './errors.js';
import type { WorkflowName } from './registry/lab-record.js';

/**
 * Starts one of the lab workflows under a given execution name (Step Functions StartExecution:
 * SfnWorkflowStarter; tests record what they are asked instead). Starting the same name again must
 * be harmless, which is what lets a retried API call or schedule run re-start a workflow whose
 * start was cut short.
 */
export interface WorkflowStarter {
  start(name: StartableWorkflow, input: unknown, executionName: string): Promise<{ executionId: string }>;
}

/**
 * What the API and the schedule start: a lab's own workflows, and `provision-class`, which
 * provisions the labs of a class (each under the execution name recorded for it) through a Map
 * with a bounded concurrency.
 */
export const STARTABLE_WORKFLOWS = ['provision-lab', 'teardown-lab', 'reset-lab', 'provision-class'] as const;
export type StartableWorkflow = WorkflowName | 'provision-class';

const stateMachineArn = z
  .string()
  .regex(/^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[\w-]{1,80}$/, 'must be a state machine ARN');

/** The state machines a function may start, each optional: a function gets only those it needs. */
export const starterEnvSchema = z.object({
  PROVISION_LAB_STATE_MACHINE_ARN: stateMachineArn.optional(),
  TEARDOWN_LAB_STATE_MACHINE_ARN: stateMachineArn.optional(),
  RESET_LAB_STATE_MACHINE_ARN: stateMachineArn.optional(),
  PROVISION_CLASS_STATE_MACHINE_ARN: stateMachineArn.optional(),
});

const ENV_OF: Record<StartableWorkflow, keyof z.output<typeof starterEnvSchema>> = {
  'provision-lab': 'PROVISION_LAB_STATE_MACHINE_ARN',
  'teardown-lab': 'TEARDOWN_LAB_STATE_MACHINE_ARN',
  'reset-lab': 'RESET_LAB_STATE_MACHINE_ARN',
  'provision-class': 'PROVISION_CLASS_STATE_MACHINE_ARN',
};

/** The execution ARN Step Functions gives `executionName` of `stateMachine`. */
export const executionArnOf = (stateMachine: string, executionName: string) =>
  `${stateMachine.replace(':stateMachine:', ':execution:')}:${executionName}`;

/** Deployed starter: StartExecution on the state machine ARNs from the environment. */
export class SfnWorkflowStarter implements WorkflowStarter {
  constructor(
    private readonly sfn: Pick<SFNClient, 'send'>,
    private readonly arns: z.output<typeof starterEnvSchema>,
  ) {}

  async start(name: StartableWorkflow, input: unknown, executionName: string) {
    const variable = ENV_OF[name];
    const arn = this.arns[variable];
    if (!arn) throw new ConfigurationError(variable, `${variable} must be set to start ${name}`);
    try {
      const { executionArn } = await this.sfn.send(
        new StartExecutionCommand({
          stateMachineArn: arn,
          name: executionName,
          input: JSON.stringify(input),
        }),
      );
      return { executionId: executionArn ?? executionArnOf(arn, executionName) };
    } catch (err) {
      // The name was used: by this very start cut short earlier (the registry records the name
      // before starting), so it is started or already done.
      if (isErrorNamed(err, 'ExecutionAlreadyExists'))
        return { executionId: executionArnOf(arn, executionName) };
      throw err;
    }
  }
}

export function sfnStarterFromEnv(sfn: Pick<SFNClient, 'send'>, env: NodeJS.ProcessEnv = process.env) {
  return new SfnWorkflowStarter(sfn, readEnv(starterEnvSchema, env));
}

const ACTIONS: Record<WorkflowName, string> = {
  'provision-lab': 'provision',
  'teardown-lab': 'teardown',
  'reset-lab': 'reset',
};

/**
 * The last part of an execution name: 24 bits starting at a random value per process (per Lambda
 * container) and counting up, so names made in one process never repeat (two random bytes did, 1
 * time in 50 for 50 names in one second) and two processes meet 1 time in 16 million.
 */
let suffix = randomBytes(3).readUIntBE(0, 3);
const nextSuffix = () => (suffix = (suffix + 1) % 0x1000000).toString(16).padStart(6, '0');

/**
 * A new execution name for `labId`'s generation: `<labId>-g<generation>-<action>-<UTC stamp>-<suffix>`.
 * Unique per run (names cannot be reused for 90 days), at most 70 characters so reset-lab's
 * `-provision` / `-teardown` children stay within the 80 allowed.
 */
export function newExecutionName(
  labId: string,
  generation: number,
  workflow: WorkflowName,
  now = new Date(),
) {
  const stamp = now
    .toISOString()
    .replace(/[-:.TZ]/g, '')
    .slice(0, 14);
  return `${labId}-g${generation}-${ACTIONS[workflow]}-${stamp}-${nextSuffix()}`;
}

/**
 * The execution name of a class's provisioning: `<classId>-class-<digest>`, the digest taken over
 * the labs it provisions and their recorded execution names. Asking again for the same labs (a
 * retried `POST /classes`) gives the same name, which the starters treat as already started.
 */
export function classExecutionName(classId: string, labs: { labId: string; executionName: string }[]) {
  const digest = createHash('sha256')
    .update(
      labs
        .map((lab) => `${lab.labId}=${lab.executionName}`)
        .sort()
        .join('\n'),
    )
    .digest('hex')
    .slice(0, 16);
  return `${classId}-class-${digest}`;
}
