import type { ControlHandler, ManagedNodeLookup, ServiceTable } from '../context.js';
import { hybridActivations } from './activations.js';
import { cloudTrail } from './cloudtrail.js';
import { documents } from './documents.js';
import { ec2Fidelity } from './ec2-fidelity.js';
import { hostControls } from './host-controls.js';
import { iamSimulation } from './iam-simulation/operations.js';
import { findNode } from './managed-nodes/nodes.js';
import { managedNodes } from './managed-nodes/operations.js';
import { roleCredentialControls, securityTokenService } from './role-credentials.js';
import { runCommand } from './run-command/operations.js';
import { serviceSettings } from './service-settings.js';
import { sessionControls } from './sessions/controls.js';
import { sessions } from './sessions/operations.js';
import { stepFunctions } from './step-functions.js';

/**
 * What the emulator serves itself, by signing name and operation. Each module owns one area;
 * everything else goes to moto.
 */
export const services: ServiceTable = {
  ssm: {
    ...documents,
    ...serviceSettings,
    ...hybridActivations,
    ...managedNodes,
    ...runCommand,
    ...sessions,
  },
  ec2: { ...ec2Fidelity },
  iam: { ...iamSimulation },
  cloudtrail: { ...cloudTrail },
  sts: { ...securityTokenService },
  states: { ...stepFunctions },
};

/** The managed nodes the authorization layer reads tags from (`EmulatorContext.managedNode`). */
export const managedNode: ManagedNodeLookup = findNode;

/** Internal endpoints for the simulated hosts' commands (ssh, the agent, systemctl, aws). */
export const controls: Record<string, ControlHandler> = {
  ...hostControls,
  ...sessionControls,
  ...roleCredentialControls,
};
