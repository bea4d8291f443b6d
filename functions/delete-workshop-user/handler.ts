import { labClients } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { deleteWorkshopUser, inputSchema } from './task.js';

export const handler = labHandler(inputSchema, (input) => deleteWorkshopUser(input, labClients()));
