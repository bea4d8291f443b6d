import { SFNClient } from '@aws-sdk/client-sfn';
import * as z from 'zod';
import { awsClient } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { parseInput } from '../shared/input.js';
import { requiredLabRegistry } from '../shared/registry/lab-registry.js';
import { sfnStarterFromEnv } from '../shared/workflow-starter.js';
import { inputSchema, resetDueLabs, streamEventSchema, teardownPurgedLabs } from './task.js';

/** The schedules' target, and the registry stream's consumer for records TTL purged first. */
export const handler = labHandler(
  z.unknown(),
  (event) => {
    const deps = { registry: requiredLabRegistry(), starter: sfnStarterFromEnv(awsClient(SFNClient)) };
    if ((event as { Records?: unknown } | null)?.Records !== undefined)
      return teardownPurgedLabs(parseInput(streamEventSchema, event), deps);
    return resetDueLabs(parseInput(inputSchema, event ?? {}), deps);
  },
  { progress: false },
);
