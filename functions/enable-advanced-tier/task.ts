import { UpdateServiceSettingCommand } from '@aws-sdk/client-ssm';
import { z } from 'zod';
import { ADVANCED_TIER, readActivationTier, type TierSetting } from '../shared/activation-tier.js';
import type { LabClients } from '../shared/clients.js';

/** The task needs nothing: the setting is account- and Region-wide (facts sheet 0.3). */
export const inputSchema = z.object({});
export type Input = z.output<typeof inputSchema>;

/**
 * Seed task 3b: switch the account to the advanced-instances tier, which Session Manager needs
 * for hybrid (`mi-`) nodes. Skips the write when the value is already `advanced` (in effect or
 * pending): a second UpdateServiceSetting would only restart the pending change. TooManyUpdates
 * propagates for the SDK and the state machine to retry. A lab's teardown never reverts it.
 */
export async function enableAdvancedTier(
  _input: Input,
  clients: Pick<LabClients, 'ssm' | 'sts'>,
): Promise<TierSetting> {
  const current = await readActivationTier(clients);
  if (current.value === ADVANCED_TIER) return current;
  await clients.ssm.send(
    new UpdateServiceSettingCommand({ SettingId: current.settingId, SettingValue: ADVANCED_TIER }),
  );
  return readActivationTier(clients);
}
