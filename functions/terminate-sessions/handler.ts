import { labClients } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { terminateSessions, inputSchema } from './task.js';

export const handler = labHandler(inputSchema, (input) => terminateSessions(input, labClients()));
