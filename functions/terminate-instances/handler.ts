import { labClients } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { terminateInstances, inputSchema } from './task.js';

export const handler = labHandler(inputSchema, (input) => terminateInstances(input, labClients()));
