import { labClients } from '../shared/clients.js';
import { readEnv } from '../shared/env.js';
import { labHandler } from '../shared/handler.js';
import { policyModeEnvSchema } from '../shared/lab-config.js';
import { inputSchema, validateLabInput } from './task.js';

export const handler = labHandler(inputSchema, (input) =>
  validateLabInput(input, labClients(), {
    allowSeedPolicyMode: readEnv(policyModeEnvSchema).ALLOW_SEED_POLICY_MODE,
  }),
);
