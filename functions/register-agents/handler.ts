import { SSMClient } from '@aws-sdk/client-ssm';
import { clientsFor } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { registerAgents, inputSchema } from './task.js';

export const handler = labHandler(inputSchema, (input) =>
  registerAgents(input, clientsFor({ ssm: SSMClient })),
);
