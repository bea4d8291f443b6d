/**
 * The single list of Lambda tasks the CDK app deploys: one entry per `functions/<name>/` folder of
 * the task contract (functions/README.md). The bundle is `dist/functions/<name>/index.mjs`, the
 * state machines name the function with the `${<PascalName>FunctionArn}` placeholder, and the
 * function's role gets exactly the grants listed for it in `permissions.ts`.
 */
export interface LabFunctionSpec {
  /** The workflow whose steps the task performs (validate-lab-input serves teardown too). */
  workflow: 'provision' | 'teardown';
  /** The folder under functions/, the bundle folder under dist/functions/. */
  name: string;
  /** Below the Task states' TimeoutSeconds (330) so a hung function fails as a Lambda timeout first. */
  timeoutSeconds: number;
  description: string;
}

/** One catalogue entry; `const` keeps each name a literal type. */
function task<const Name extends string>(
  workflow: 'provision' | 'teardown',
  name: Name,
  timeoutSeconds: number,
  description: string,
): LabFunctionSpec & { name: Name } {
  return { workflow, name, timeoutSeconds, description };
}

export const LAB_FUNCTIONS = [
  // Provision (seed order)
  task('provision', 'validate-lab-input', 30, 'Validates the lab input and applies its defaults'),
  task('provision', 'create-instance-role', 120, 'Seed 1: SSMLabRole and SSMLabProfile'),
  task('provision', 'create-service-role', 120, 'Seed 1: SSMServiceRole for hybrid nodes'),
  task('provision', 'create-activations', 120, 'Seed 2: one hybrid activation per environment'),
  task('provision', 'create-key-pair', 60, 'Seed 3.1: key pair, private key to SecureString'),
  task('provision', 'create-network', 120, 'Seed 3.4/3.10: bootstrap and on-prem security groups'),
  task('provision', 'launch-instances', 180, 'Seed 3.5: the four lab hosts and the bootstrap host'),
  task('provision', 'wait-for-instances', 60, 'Seed 3.8: polls until the hosts run and EC2 hosts are Online'),
  task('provision', 'register-agents', 120, 'Seed 3.11-3.14: registration over Run Command'),
  task('provision', 'wait-for-registration', 60, 'Seed 3.14: polls until the mi- nodes are Online'),
  task('provision', 'close-bootstrap-access', 120, 'Removes the SSH rule and the bootstrap key'),
  task('provision', 'enable-advanced-tier', 60, 'Seed 3b: switches on the advanced-instances tier'),
  task('provision', 'wait-for-advanced-tier', 30, 'Seed 3b.6: polls until the advanced tier is in effect'),
  task('provision', 'configure-session-logging', 120, 'Seed 5: log group and Session Manager preferences'),
  task('provision', 'create-workshop-user', 180, 'Seed 4: workshop user, password secret, tag-based policy'),
  task('provision', 'verify-lab', 300, 'Seed 6: access matrix, preferences and nodes: the lab report'),
  // Teardown
  task('teardown', 'terminate-sessions', 120, "Teardown: ends the lab user's active sessions"),
  task('teardown', 'deregister-nodes', 120, "Teardown: deregisters the lab's mi- nodes"),
  task('teardown', 'delete-activations', 120, "Teardown: deletes the lab's activations and code parameters"),
  task('teardown', 'terminate-instances', 120, "Teardown: terminates the lab's instances (polled)"),
  task('teardown', 'delete-network', 120, "Teardown: deletes the lab's security groups and key pair"),
  task('teardown', 'delete-workshop-user', 180, 'Teardown: deletes the workshop user, its policy and secret'),
] as const;

export type LabFunctionName = (typeof LAB_FUNCTIONS)[number]['name'];

/**
 * Task folders this stack does not deploy yet: the lab lifecycle (registry table, reset schedule,
 * portal API) deploys them and wires them into the workflows. Listed so that a new task folder
 * is never silently left out (test/infra/permissions.test.ts).
 */
export const NOT_DEPLOYED_YET = [
  'acquire-shared-resources',
  'release-shared-resources',
  'record-lab-status',
  'reset-due-labs',
] as const;

/** The state machines in state-machine/, each `${<PascalName>StateMachineArn}` for reset-lab. */
export const STATE_MACHINES = ['provision-lab', 'teardown-lab', 'reset-lab'] as const;
export type StateMachineName = (typeof STATE_MACHINES)[number];

/** `create-instance-role` -> `CreateInstanceRole`. */
export const pascalCase = (kebab: string): string =>
  kebab
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');

/** The definition-substitution key of a function's ARN: `CreateInstanceRoleFunctionArn`. */
export const functionArnPlaceholder = (name: string): string => `${pascalCase(name)}FunctionArn`;

/** The definition-substitution key of a state machine's ARN: `TeardownLabStateMachineArn`. */
export const stateMachineArnPlaceholder = (name: string): string => `${pascalCase(name)}StateMachineArn`;
