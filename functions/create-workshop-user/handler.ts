import { labClients } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { createWorkshopUser, inputSchema } from './task.js';

export const handler = labHandler(inputSchema, (input) => createWorkshopUser(input, labClients()));
