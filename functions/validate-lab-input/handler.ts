import { labClients } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { inputSchema, validateLabInput } from './task.js';

export const handler = labHandler(inputSchema, (input) => validateLabInput(input, labClients()));
