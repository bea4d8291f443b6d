import { IAMClient } from '@aws-sdk/client-iam';
import { SSMClient } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import { clientsFor } from '../shared/clients.js';
import { readEnv } from '../shared/env.js';
import { labHandler } from '../shared/handler.js';
import { labRegistry } from '../shared/registry/lab-registry.js';
import { revertEnvSchema } from '../shared/shared-resources.js';
import { inputSchema, releaseSharedResources } from './task.js';

export const handler = labHandler(inputSchema, (input) =>
  releaseSharedResources(input, {
    registry: labRegistry(),
    clients: clientsFor({ iam: IAMClient, ssm: SSMClient, sts: STSClient }),
    revertOnLastRelease: readEnv(revertEnvSchema).REVERT_SHARED_ON_LAST_RELEASE,
  }),
);
