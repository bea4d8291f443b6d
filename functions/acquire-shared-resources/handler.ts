import { SSMClient } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import { clientsFor } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { labRegistry } from '../shared/registry/lab-registry.js';
import { acquireSharedResources, inputSchema } from './task.js';

export const handler = labHandler(inputSchema, (input) =>
  acquireSharedResources(input, {
    registry: labRegistry(),
    clients: clientsFor({ ssm: SSMClient, sts: STSClient }),
  }),
);
