import { IAMClient } from '@aws-sdk/client-iam';
import { clientsFor } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { labRegistry } from '../shared/registry/lab-registry.js';
import { createInstanceRole, inputSchema } from './task.js';

export const handler = labHandler(inputSchema, (input) =>
  createInstanceRole(input, clientsFor({ iam: IAMClient }), labRegistry()),
);
