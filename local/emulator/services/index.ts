import type { ControlHandler, ServiceTable } from '../context.js';
import { hybridActivations } from './activations.js';
import { cloudTrail } from './cloudtrail.js';
import { documents } from './documents.js';
import { ec2Fidelity } from './ec2-fidelity.js';
import { hostControls } from './host-controls.js';
import { iamSimulation } from './iam-simulation.js';
import { managedNodes } from './managed-nodes.js';
import { roleCredentialControls, securityTokenService } from './role-credentials.js';
import { runCommand } from './run-command.js';
import { serviceSettings } from './service-settings.js';
import { sessionControls, sessions } from './sessions.js';
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

/** Internal endpoints for the simulated hosts' commands (ssh, the agent, systemctl, aws). */
export const controls: Record<string, ControlHandler> = {
  ...hostControls,
  ...sessionControls,
  ...roleCredentialControls,
};
