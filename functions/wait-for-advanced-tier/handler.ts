import { SSMClient } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import { clientsFor } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { inputSchema, waitForAdvancedTier } from './task.js';

export const handler = labHandler(
  inputSchema,
  (input) => waitForAdvancedTier(input, clientsFor({ ssm: SSMClient, sts: STSClient })),
  {
    untilReady: true,
  },
);
