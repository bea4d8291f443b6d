import { labClients } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { closeBootstrapAccess, inputSchema } from './task.js';

export const handler = labHandler(inputSchema, (input) => closeBootstrapAccess(input, labClients()));
