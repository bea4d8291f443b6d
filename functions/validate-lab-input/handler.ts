import { S3Client } from '@aws-sdk/client-s3';
import { STSClient } from '@aws-sdk/client-sts';
import { clientsFor } from '../shared/clients.js';
import { readEnv } from '../shared/env.js';
import { labHandler } from '../shared/handler.js';
import { policyModeEnvSchema } from '../shared/lab-config.js';
import { inputSchema, validateLabInput } from './task.js';

export const handler = labHandler(inputSchema, (input) =>
  validateLabInput(input, clientsFor({ s3: S3Client, sts: STSClient }), {
    allowSeedPolicyMode: readEnv(policyModeEnvSchema).ALLOW_SEED_POLICY_MODE,
  }),
);
