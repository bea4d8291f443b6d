import { labClients } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { enableAdvancedTier, inputSchema } from './task.js';

export const handler = labHandler(inputSchema, (input) => enableAdvancedTier(input, labClients()));
