import { IAMClient } from '@aws-sdk/client-iam';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { clientsFor } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { createWorkshopUser, inputSchema } from './task.js';

export const handler = labHandler(inputSchema, (input) =>
  createWorkshopUser(input, clientsFor({ iam: IAMClient, secrets: SecretsManagerClient })),
);
