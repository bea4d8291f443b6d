import { UpdateServiceSettingCommand } from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { ADVANCED_TIER, readActivationTier, type TierSetting } from '../shared/activation-tier.js';
import type { LabClients } from '../shared/clients.js';
import { NotReadyYet, isErrorNamed } from '../shared/errors.js';
import { labReferenceSchema } from '../shared/lab-config.js';

/**
 * The task needs nothing: the setting is account- and Region-wide. The lab id
 * and run only let its progress be recorded on the lab.
 */
export const inputSchema = labReferenceSchema;
export type Input = z.output<typeof inputSchema>;

/**
 * Seed task 3b: switch the account to the advanced-instances tier, which Session Manager needs
 * for hybrid (`mi-`) nodes. Skips the write when the value is already `advanced` (in effect or
 * pending): a second UpdateServiceSetting would only restart the pending change. TooManyUpdates
 * (another lab's switch pending) answers the setting when it is `advanced`, NotReadyYet otherwise.
 * A lab's teardown never reverts it.
 */
export async function enableAdvancedTier(
  _input: Input,
  clients: Pick<LabClients, 'ssm' | 'sts'>,
): Promise<TierSetting> {
  const current = await readActivationTier(clients);
  if (current.value === ADVANCED_TIER) return current;
  try {
    await clients.ssm.send(
      new UpdateServiceSettingCommand({ SettingId: current.settingId, SettingValue: ADVANCED_TIER }),
    );
  } catch (err) {
    // Labs provisioned together race here: another one's switch is already pending (measured by
    // the benchmark's sweep). That switch is ours too; any other change in progress is retried.
    if (!isErrorNamed(err, 'TooManyUpdates')) throw err;
    const now = await readActivationTier(clients);
    if (now.value === ADVANCED_TIER) return now;
    throw new NotReadyYet(`the activation tier is changing to ${now.value}: ${(err as Error).message}`);
  }
  return readActivationTier(clients);
}
