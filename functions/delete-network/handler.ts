import { labClients } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { deleteNetwork, inputSchema } from './task.js';

export const handler = labHandler(inputSchema, (input) => deleteNetwork(input, labClients()));
