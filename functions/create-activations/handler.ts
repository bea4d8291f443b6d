import { EC2Client } from '@aws-sdk/client-ec2';
import { IAMClient } from '@aws-sdk/client-iam';
import { SSMClient } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import { clientsFor } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { createActivations, inputSchema } from './task.js';

export const handler = labHandler(inputSchema, (input) =>
  createActivations(input, clientsFor({ ec2: EC2Client, iam: IAMClient, ssm: SSMClient, sts: STSClient })),
);
