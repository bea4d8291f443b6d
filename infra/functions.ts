/**
 * The single list of Lambda tasks the CDK app deploys: one entry per `functions/<name>/` folder of
 * the task contract (functions/README.md). The bundle is `dist/functions/<name>/index.mjs`, the
 * state machines name the function with the `${<PascalName>FunctionArn}` placeholder, and the
 * function's role gets exactly the grants listed for it in `permissions.ts`.
 */
export interface LabFunctionSpec {
  /**
   * The workflow whose steps the task performs (validate-lab-input serves teardown too);
   * `lifecycle`: the lab registry's bookkeeping (record-lab-status, a step of every workflow and
   * the status-change rule's target; reset-due-labs, the schedules' target).
   */
  workflow: 'provision' | 'teardown' | 'lifecycle';
  /** The folder under functions/, the bundle folder under dist/functions/. */
  name: string;
  /** Below the Task states' TimeoutSeconds (330) so a hung function fails as a Lambda timeout first. */
  timeoutSeconds: number;
  description: string;
}

/** One catalogue entry; `const` keeps each name a literal type. */
function task<const Name extends string>(
  workflow: LabFunctionSpec['workflow'],
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
  // The lab lifecycle (the registry)
  task(
    'provision',
    'acquire-shared-resources',
    60,
    "Takes the lab's references on the account-wide singletons",
  ),
  task(
    'teardown',
    'release-shared-resources',
    120,
    'Releases them; the last holder reverts tier and preferences',
  ),
  task(
    'lifecycle',
    'record-lab-status',
    30,
    "Records a lab's status (workflow steps, execution status changes)",
  ),
  task('lifecycle', 'reset-due-labs', 120, 'The schedules: tears down expired labs, resets nightly ones'),
] as const;

export type LabFunctionName = (typeof LAB_FUNCTIONS)[number]['name'];

/**
 * Task folders this stack does not deploy (none now). Listed so that a new task folder is never
 * silently left out (test/infra/permissions.test.ts).
 */
export const NOT_DEPLOYED_YET: readonly string[] = [];

/**
 * The portal API's functions, one per route of functions/api/openapi.yaml (whose integrations name
 * them `${Api<Route>FunctionArn}`): the bundle is `dist/functions/api-<route>/index.mjs`.
 */
export const API_FUNCTIONS = [
  { route: 'create-lab', description: 'POST /labs: creates a lab and starts provisioning it' },
  { route: 'list-labs', description: 'GET /labs: lists labs by status, owner or class' },
  { route: 'get-lab', description: "GET /labs/{labId}: a lab's status, steps and report" },
  { route: 'delete-lab', description: 'DELETE /labs/{labId}: tears a lab down' },
  { route: 'reset-lab', description: 'POST /labs/{labId}/reset: resets a lab to a new generation' },
  { route: 'create-class', description: 'POST /classes: creates the labs of a class' },
] as const;
export type ApiRouteName = (typeof API_FUNCTIONS)[number]['route'];

/** `create-lab` -> `api-create-lab`: the bundle folder under dist/functions/. */
export const apiBundleName = (route: string): string => `api-${route}`;

/**
 * The state machines in state-machine/, children first: each is `${<PascalName>StateMachineArn}`
 * in the ones after it (reset-lab and provision-class start provision-lab).
 */
export const STATE_MACHINES = ['provision-lab', 'teardown-lab', 'reset-lab', 'provision-class'] as const;
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
