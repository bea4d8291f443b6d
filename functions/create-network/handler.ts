import { labClients } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { createNetwork, inputSchema } from './task.js';

export const handler = labHandler(inputSchema, (input) => createNetwork(input, labClients()));
