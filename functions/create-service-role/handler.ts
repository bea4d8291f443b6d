import { labClients } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { createServiceRole, inputSchema } from './task.js';

export const handler = labHandler(inputSchema, (input) => createServiceRole(input, labClients()));
