import { labClients } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { labRegistry } from '../shared/registry/lab-registry.js';
import { createInstanceRole, inputSchema } from './task.js';

export const handler = labHandler(inputSchema, (input) =>
  createInstanceRole(input, labClients(), labRegistry()),
);
