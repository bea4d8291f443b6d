import { GetServiceSettingCommand, SSMClient } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { waitForAdvancedTier } from '../../../functions/wait-for-advanced-tier/task.js';
import {
  ACCOUNT,
  REGION,
  awsError,
  inputsOf,
  mockCallerIdentity,
  testClients,
} from '../../helpers/aws-mock.js';

const ssm = mockClient(SSMClient);
const sts = mockClient(STSClient);

beforeEach(() => {
  ssm.reset();
  sts.reset();
  mockCallerIdentity(sts);
});

const setting = (SettingValue: string, Status: string) => ({ ServiceSetting: { SettingValue, Status } });

describe('waitForAdvancedTier', () => {
  it.each([
    ['advanced', 'Customized', true],
    ['advanced', 'PendingUpdate', false],
    ['standard', 'PendingUpdate', false],
    ['standard', 'Default', false],
  ])('value %s with status %s -> ready %s', async (value, status, ready) => {
    ssm.on(GetServiceSettingCommand).resolves(setting(value, status));
    await expect(waitForAdvancedTier({}, testClients())).resolves.toEqual({ ready, value, status });
  });

  it('reads the setting by its ARN', async () => {
    ssm.on(GetServiceSettingCommand).resolves(setting('advanced', 'Customized'));
    await waitForAdvancedTier({}, testClients());
    expect(inputsOf(ssm, GetServiceSettingCommand)[0]!.SettingId).toBe(
      `arn:aws:ssm:${REGION}:${ACCOUNT}:servicesetting/ssm/managed-instance/activation-tier`,
    );
  });

  it('propagates throttling rather than reporting "not ready"', async () => {
    ssm.on(GetServiceSettingCommand).rejects(awsError('ThrottlingException'));
    await expect(waitForAdvancedTier({}, testClients())).rejects.toMatchObject({
      name: 'ThrottlingException',
    });
  });

  it('a failed caller-identity lookup is not cached: the next poll asks again', async () => {
    sts.reset();
    const clients = testClients();
    sts.rejects(awsError('ExpiredToken'));
    await expect(waitForAdvancedTier({}, clients)).rejects.toMatchObject({ name: 'ExpiredToken' });
    mockCallerIdentity(sts);
    ssm.on(GetServiceSettingCommand).resolves(setting('advanced', 'Customized'));
    await expect(waitForAdvancedTier({}, clients)).resolves.toMatchObject({ ready: true });
  });
});
