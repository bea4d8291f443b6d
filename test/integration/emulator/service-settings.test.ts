import { CreateRoleCommand, GetRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import {
  GetServiceSettingCommand,
  ResetServiceSettingCommand,
  SSMClient,
  UpdateServiceSettingCommand,
} from '@aws-sdk/client-ssm';
import { emulatorClientConfig, useEmulator } from '../../helpers/emulator.js';
import { waitFor } from '../../../local/emulator/net.js';

const TIER = '/ssm/managed-instance/activation-tier';
const TIER_ARN = `arn:aws:ssm:us-east-1:123456789012:servicesetting${TIER}`;

describe('emulator endpoint', () => {
  // 60 s of tier change at scale 0.01 = 600 ms real: long enough that the three calls made inside
  // the pending window still are on a loaded machine (100 ms was not, beside a benchmark).
  const emulator = useEmulator({ time: { scale: 0.01, tierChangeSeconds: 60 } });
  const ssm = () => new SSMClient(emulatorClientConfig(emulator()));

  it('forwards what it does not serve to moto unchanged', async () => {
    const iam = new IAMClient(emulatorClientConfig(emulator()));
    await iam.send(new CreateRoleCommand({ RoleName: 'forwarded', AssumeRolePolicyDocument: '{}' }));
    const role = await iam.send(new GetRoleCommand({ RoleName: 'forwarded' }));
    expect(role.Role?.Arn).toBe('arn:aws:iam::123456789012:role/forwarded');
  });

  it('starts on the standard tier (Default) and accepts the id and ARN forms', async () => {
    for (const SettingId of [TIER, TIER_ARN]) {
      const { ServiceSetting } = await ssm().send(new GetServiceSettingCommand({ SettingId }));
      expect(ServiceSetting).toMatchObject({
        SettingId: TIER,
        SettingValue: 'standard',
        Status: 'Default',
        ARN: TIER_ARN,
      });
    }
  });

  it('passes through PendingUpdate before the advanced tier is in effect', async () => {
    await ssm().send(new UpdateServiceSettingCommand({ SettingId: TIER_ARN, SettingValue: 'advanced' }));
    const pending = await ssm().send(new GetServiceSettingCommand({ SettingId: TIER_ARN }));
    expect(pending.ServiceSetting).toMatchObject({ SettingValue: 'advanced', Status: 'PendingUpdate' });
    // No SDK retries here: the SDK treats the 429 as throttling and would retry past the pending window.
    const once = new SSMClient({ ...emulatorClientConfig(emulator()), maxAttempts: 1 });
    await expect(
      once.send(new UpdateServiceSettingCommand({ SettingId: TIER_ARN, SettingValue: 'standard' })),
    ).rejects.toMatchObject({ name: 'TooManyUpdates' });
    await waitFor(
      async () =>
        (await ssm().send(new GetServiceSettingCommand({ SettingId: TIER }))).ServiceSetting?.Status ===
        'Customized',
      { timeoutMs: 5000, intervalMs: 20, what: 'the tier change' },
    );
    const done = await ssm().send(new GetServiceSettingCommand({ SettingId: TIER }));
    expect(done.ServiceSetting?.SettingValue).toBe('advanced');
  });

  it('resets to the standard default', async () => {
    await ssm().send(new ResetServiceSettingCommand({ SettingId: TIER_ARN }));
    await waitFor(
      async () =>
        (await ssm().send(new GetServiceSettingCommand({ SettingId: TIER }))).ServiceSetting?.Status ===
        'Default',
      { timeoutMs: 5000, intervalMs: 20, what: 'the reset' },
    );
    const reset = await ssm().send(new GetServiceSettingCommand({ SettingId: TIER }));
    expect(reset.ServiceSetting?.SettingValue).toBe('standard');
  });

  it('answers ServiceSettingNotFound and ValidationException with AWS codes', async () => {
    await expect(ssm().send(new GetServiceSettingCommand({ SettingId: '/ssm/nope' }))).rejects.toMatchObject({
      name: 'ServiceSettingNotFound',
    });
    await expect(
      ssm().send(new UpdateServiceSettingCommand({ SettingId: TIER_ARN, SettingValue: 'premium' })),
    ).rejects.toMatchObject({ name: 'ValidationException' });
  });
});
