import * as z from 'zod';
import { ADVANCED_TIER, readActivationTier } from '../shared/activation-tier.js';
import type { LabClients } from '../shared/clients.js';
import { labReferenceSchema } from '../shared/lab-config.js';

/** Nothing of the lab is needed: the lab id and run only let its progress be recorded. */
export const inputSchema = labReferenceSchema;
export type Input = z.output<typeof inputSchema>;

export interface Output {
  ready: boolean;
  value: string;
  status: string;
}

/**
 * Seed task 3b.6, one poll: ready once the value is `advanced` and no longer `PendingUpdate`
 * (docs/aws-behaviours.md#advanced-instances-tier; the switch takes minutes). Any other state is
 * "not yet", never an error: right after the update the old value may still be read, and the state
 * machine bounds the loop.
 */
export async function waitForAdvancedTier(
  _input: Input,
  clients: Pick<LabClients, 'ssm' | 'sts'>,
): Promise<Output> {
  const { value, status } = await readActivationTier(clients);
  return { ready: value === ADVANCED_TIER && status !== 'PendingUpdate', value, status };
}
