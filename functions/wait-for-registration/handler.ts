import { SSMClient } from '@aws-sdk/client-ssm';
import { clientsFor } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { waitForRegistration, inputSchema } from './task.js';

export const handler = labHandler(
  inputSchema,
  (input) => waitForRegistration(input, clientsFor({ ssm: SSMClient })),
  {
    untilReady: true,
  },
);
