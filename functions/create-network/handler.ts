import { EC2Client } from '@aws-sdk/client-ec2';
import { clientsFor } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { createNetwork, inputSchema } from './task.js';

export const handler = labHandler(inputSchema, (input) =>
  createNetwork(input, clientsFor({ ec2: EC2Client })),
);
