import { IAMClient } from '@aws-sdk/client-iam';
import { STSClient } from '@aws-sdk/client-sts';
import { clientsFor } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { labRegistry } from '../shared/registry/lab-registry.js';
import { createServiceRole, inputSchema } from './task.js';

export const handler = labHandler(inputSchema, (input) =>
  createServiceRole(input, clientsFor({ iam: IAMClient, sts: STSClient }), labRegistry()),
);
