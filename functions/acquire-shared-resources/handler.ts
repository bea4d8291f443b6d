import { labClients } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { labRegistry } from '../shared/registry/lab-registry.js';
import { acquireSharedResources, inputSchema } from './task.js';

export const handler = labHandler(inputSchema, (input) =>
  acquireSharedResources(input, { registry: labRegistry(), clients: labClients() }),
);
