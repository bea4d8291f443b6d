import { labClients } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { inputSchema, waitForAdvancedTier } from './task.js';

export const handler = labHandler(inputSchema, (input) => waitForAdvancedTier(input, labClients()), {
  untilReady: true,
});
