import { labClients } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { configureSessionLogging, inputSchema } from './task.js';

export const handler = labHandler(inputSchema, (input) => configureSessionLogging(input, labClients()));
