import { labClients } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { createActivations, inputSchema } from './task.js';

export const handler = labHandler(inputSchema, (input) => createActivations(input, labClients()));
