import { IAMClient } from '@aws-sdk/client-iam';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { STSClient } from '@aws-sdk/client-sts';
import { clientsFor } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { deleteWorkshopUser, inputSchema } from './task.js';

export const handler = labHandler(inputSchema, (input) =>
  deleteWorkshopUser(input, clientsFor({ iam: IAMClient, secrets: SecretsManagerClient, sts: STSClient })),
);
