import { labClients } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { inputSchema, verifyLab } from './task.js';

export const handler = labHandler(inputSchema, (input) => verifyLab(input, labClients()));
