import * as z from 'zod';
import { labHandler } from '../shared/handler.js';
import { labRegistry } from '../shared/registry/lab-registry.js';
import { recordFromEvent } from './task.js';

/** Bookkeeping, not a lab step: no progress of its own. The event is parsed by recordFromEvent. */
export const handler = labHandler(
  z.unknown(),
  (event) => recordFromEvent(event, { registry: labRegistry() }),
  {
    progress: false,
  },
);
