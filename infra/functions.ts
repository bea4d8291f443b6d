/**
 * The single list of Lambda tasks the CDK app deploys: one entry per `functions/<name>/` folder of
 * the task contract (functions/README.md). The bundle is `dist/functions/<name>/index.mjs`, the
 * state machines name the function with the `${<PascalName>FunctionArn}` placeholder, and the
 * function's role gets exactly the grants listed for it in `permissions.ts`.
 */
export const LAB_FUNCTIONS = [
  // Provision (seed order)
  {
    name: 'validate-lab-input',
    timeoutSeconds: 30,
    description: 'Validates the lab input and applies its defaults',
  },
  { name: 'create-instance-role', timeoutSeconds: 120, description: 'Seed 1: SSMLabRole and SSMLabProfile' },
  {
    name: 'create-service-role',
    timeoutSeconds: 120,
    description: 'Seed 1: SSMServiceRole for hybrid nodes',
  },
  {
    name: 'create-activations',
    timeoutSeconds: 120,
    description: 'Seed 2: one hybrid activation per environment',
  },
  {
    name: 'create-key-pair',
    timeoutSeconds: 60,
    description: 'Seed 3.1: key pair, private key to SecureString',
  },
  {
    name: 'create-network',
    timeoutSeconds: 120,
    description: 'Seed 3.4/3.10: bootstrap and on-prem security groups',
  },
  {
    name: 'launch-instances',
    timeoutSeconds: 180,
    description: 'Seed 3.5: the four lab hosts and the bootstrap host',
  },
  {
    name: 'wait-for-instances',
    timeoutSeconds: 60,
    description: 'Seed 3.8: polls until the hosts run and EC2 hosts are Online',
  },
  {
    name: 'register-agents',
    timeoutSeconds: 120,
    description: 'Seed 3.11-3.14: registration over Run Command',
  },
  {
    name: 'wait-for-registration',
    timeoutSeconds: 60,
    description: 'Seed 3.14: polls until the mi- nodes are Online',
  },
  {
    name: 'close-bootstrap-access',
    timeoutSeconds: 120,
    description: 'Removes the SSH rule and the bootstrap key',
  },
  {
    name: 'enable-advanced-tier',
    timeoutSeconds: 60,
    description: 'Seed 3b: switches on the advanced-instances tier',
  },
  {
    name: 'wait-for-advanced-tier',
    timeoutSeconds: 30,
    description: 'Seed 3b.6: polls until the advanced tier is in effect',
  },
  {
    name: 'configure-session-logging',
    timeoutSeconds: 120,
    description: 'Seed 5: log group and Session Manager preferences',
  },
  {
    name: 'create-workshop-user',
    timeoutSeconds: 180,
    description: 'Seed 4: workshop user, password secret, tag-based policy',
  },
  {
    name: 'verify-lab',
    timeoutSeconds: 300,
    description: 'Seed 6: access matrix, preferences and nodes: the lab report',
  },
  // Teardown
  {
    name: 'terminate-sessions',
    timeoutSeconds: 120,
    description: "Teardown: ends the lab user's active sessions",
  },
  { name: 'deregister-nodes', timeoutSeconds: 120, description: "Teardown: deregisters the lab's mi- nodes" },
  {
    name: 'delete-activations',
    timeoutSeconds: 120,
    description: "Teardown: deletes the lab's activations and code parameters",
  },
  {
    name: 'terminate-instances',
    timeoutSeconds: 120,
    description: "Teardown: terminates the lab's instances (polled)",
  },
  {
    name: 'delete-network',
    timeoutSeconds: 120,
    description: "Teardown: deletes the lab's security groups and key pair",
  },
  {
    name: 'delete-workshop-user',
    timeoutSeconds: 180,
    description: 'Teardown: deletes the workshop user, its policy and secret',
  },
] as const satisfies readonly LabFunctionSpec[];

export interface LabFunctionSpec {
  /** The folder under functions/, the bundle folder under dist/functions/. */
  name: string;
  /** Below the Task states' TimeoutSeconds (330) so a hung function fails as a Lambda timeout first. */
  timeoutSeconds: number;
  description: string;
}

export type LabFunctionName = (typeof LAB_FUNCTIONS)[number]['name'];

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
