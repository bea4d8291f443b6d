import { labClients } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { launchInstances, inputSchema } from './task.js';

export const handler = labHandler(inputSchema, (input) => launchInstances(input, labClients()));
