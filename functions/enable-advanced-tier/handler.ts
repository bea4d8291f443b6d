import { SSMClient } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import { clientsFor } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { enableAdvancedTier, inputSchema } from './task.js';

export const handler = labHandler(inputSchema, (input) =>
  enableAdvancedTier(input, clientsFor({ ssm: SSMClient, sts: STSClient })),
);
