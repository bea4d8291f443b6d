import { EC2Client } from '@aws-sdk/client-ec2';
import { clientsFor } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { terminateInstances, inputSchema } from './task.js';

export const handler = labHandler(inputSchema, (input) =>
  terminateInstances(input, clientsFor({ ec2: EC2Client })),
);
