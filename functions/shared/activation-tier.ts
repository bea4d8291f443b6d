import { GetServiceSettingCommand } from '@aws-sdk/client-ssm';
import { callerAccount, clientRegion } from './account.js';
import type { LabClients } from './clients.js';
import { activationTierArn } from './names.js';

/** The tier Session Manager needs for hybrid (`mi-`) nodes. */
export const ADVANCED_TIER = 'advanced';

export interface TierSetting {
  settingId: string;
  value: string;
  status: string;
}

/**
 * The activation tier as SSM reports it, addressed by its ARN: UpdateServiceSetting requires the
 * ARN and the short id is unconfirmed for GetServiceSetting, so both use it.
 */
export async function readActivationTier({
  ssm,
  sts,
}: Pick<LabClients, 'ssm' | 'sts'>): Promise<TierSetting> {
  const [region, { accountId }] = await Promise.all([clientRegion(ssm), callerAccount(sts)]);
  const settingId = activationTierArn(region, accountId);
  const { ServiceSetting } = await ssm.send(new GetServiceSettingCommand({ SettingId: settingId }));
  return { settingId, value: ServiceSetting?.SettingValue ?? '', status: ServiceSetting?.Status ?? '' };
}
