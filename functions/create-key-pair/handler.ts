import { EC2Client } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';
import { clientsFor } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { createKeyPair, inputSchema } from './task.js';

export const handler = labHandler(inputSchema, (input) =>
  createKeyPair(input, clientsFor({ ec2: EC2Client, ssm: SSMClient })),
);
