import type { ControlHandler, ServiceTable } from '../context.js';
import { iamSimulation } from './iam-simulation.js';
import { serviceSettings } from './service-settings.js';

/**
 * What the emulator serves itself, by signing name and operation. Each module owns one area;
 * everything else goes to moto.
 */
export const services: ServiceTable = {
  ssm: { ...serviceSettings },
  iam: { ...iamSimulation },
};

/** Internal endpoints for the simulated hosts' commands (ssh, the agent, systemctl, aws). */
export const controls: Record<string, ControlHandler> = {};
