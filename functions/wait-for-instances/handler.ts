import { labClients } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { waitForInstances, inputSchema } from './task.js';

export const handler = labHandler(inputSchema, (input) => waitForInstances(input, labClients()), {
  untilReady: true,
});
