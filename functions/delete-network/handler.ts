import { EC2Client } from '@aws-sdk/client-ec2';
import { IAMClient } from '@aws-sdk/client-iam';
import { SSMClient } from '@aws-sdk/client-ssm';
import { clientsFor } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { deleteNetwork, inputSchema } from './task.js';

export const handler = labHandler(inputSchema, (input) =>
  deleteNetwork(input, clientsFor({ ec2: EC2Client, iam: IAMClient, ssm: SSMClient })),
);
