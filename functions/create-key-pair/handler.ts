import { labClients } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { createKeyPair, inputSchema } from './task.js';

export const handler = labHandler(inputSchema, (input) => createKeyPair(input, labClients()));
