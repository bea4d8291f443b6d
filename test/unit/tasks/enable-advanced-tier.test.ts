import { GetServiceSettingCommand, SSMClient, UpdateServiceSettingCommand } from '@aws-sdk/client-ssm';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { enableAdvancedTier } from '../../../functions/enable-advanced-tier/task.js';
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
const SETTING_ARN = `arn:aws:ssm:${REGION}:${ACCOUNT}:servicesetting/ssm/managed-instance/activation-tier`;

const setting = (SettingValue: string, Status: string) => ({
  ServiceSetting: { SettingId: '/ssm/managed-instance/activation-tier', SettingValue, Status },
});

beforeEach(() => {
  ssm.reset();
  sts.reset();
  mockCallerIdentity(sts);
});

describe('enableAdvancedTier', () => {
  it('switches a standard account to advanced by the setting ARN and reports the pending change', async () => {
    ssm
      .on(GetServiceSettingCommand)
      .resolvesOnce(setting('standard', 'Default'))
      .resolves(setting('advanced', 'PendingUpdate'));
    ssm.on(UpdateServiceSettingCommand).resolves({});

    await expect(enableAdvancedTier({}, testClients())).resolves.toEqual({
      settingId: SETTING_ARN,
      value: 'advanced',
      status: 'PendingUpdate',
    });
    expect(inputsOf(ssm, UpdateServiceSettingCommand)).toEqual([
      { SettingId: SETTING_ARN, SettingValue: 'advanced' },
    ]);
    for (const input of inputsOf(ssm, GetServiceSettingCommand)) expect(input.SettingId).toBe(SETTING_ARN);
  });

  it('in a China Region addresses the setting by its aws-cn ARN', async () => {
    ssm.on(GetServiceSettingCommand).resolves(setting('standard', 'Default'));
    ssm.on(UpdateServiceSettingCommand).resolves({});
    sts
      .on(GetCallerIdentityCommand)
      .resolves({ Account: ACCOUNT, Arn: `arn:aws-cn:iam::${ACCOUNT}:user/tester`, UserId: 'AIDATEST' });
    const config = { region: 'cn-north-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } };
    await enableAdvancedTier({}, { ssm: new SSMClient(config), sts: new STSClient(config) });
    expect(inputsOf(ssm, UpdateServiceSettingCommand)).toEqual([
      {
        SettingId: `arn:aws-cn:ssm:cn-north-1:${ACCOUNT}:servicesetting/ssm/managed-instance/activation-tier`,
        SettingValue: 'advanced',
      },
    ]);
  });

  it.each([['Customized'], ['PendingUpdate']])(
    'does not write when the value is already advanced (%s): no needless PendingUpdate',
    async (status) => {
      ssm.on(GetServiceSettingCommand).resolves(setting('advanced', status));
      await expect(enableAdvancedTier({}, testClients())).resolves.toMatchObject({
        value: 'advanced',
        status,
      });
      expect(ssm.commandCalls(UpdateServiceSettingCommand)).toHaveLength(0);
    },
  );

  it('converges when run twice: the second run reads and stops', async () => {
    let value = 'standard';
    ssm
      .on(GetServiceSettingCommand)
      .callsFake(() => setting(value, value === 'advanced' ? 'Customized' : 'Default'));
    ssm.on(UpdateServiceSettingCommand).callsFake(() => {
      value = 'advanced';
      return {};
    });
    const clients = testClients();
    await enableAdvancedTier({}, clients);
    await enableAdvancedTier({}, clients);
    expect(ssm.commandCalls(UpdateServiceSettingCommand)).toHaveLength(1);
    // The account is asked once per client, not once per call.
    expect(sts.commandCalls(GetCallerIdentityCommand)).toHaveLength(1);
  });

  it('on TooManyUpdates from a concurrent lab switching to advanced, reports that pending switch', async () => {
    ssm
      .on(GetServiceSettingCommand)
      .resolvesOnce(setting('standard', 'Default'))
      .resolves(setting('advanced', 'PendingUpdate'));
    ssm.on(UpdateServiceSettingCommand).rejects(awsError('TooManyUpdates'));
    await expect(enableAdvancedTier({}, testClients())).resolves.toEqual({
      settingId: SETTING_ARN,
      value: 'advanced',
      status: 'PendingUpdate',
    });
  });

  it('on TooManyUpdates while the tier changes to anything else, NotReadyYet for the state machine to retry', async () => {
    ssm.on(GetServiceSettingCommand).resolves(setting('standard', 'PendingUpdate'));
    ssm.on(UpdateServiceSettingCommand).rejects(awsError('TooManyUpdates'));
    await expect(enableAdvancedTier({}, testClients())).rejects.toMatchObject({ name: 'NotReadyYet' });
  });

  it('propagates throttling of the read', async () => {
    ssm.on(GetServiceSettingCommand).rejects(awsError('ThrottlingException'));
    await expect(enableAdvancedTier({}, testClients())).rejects.toMatchObject({
      name: 'ThrottlingException',
    });
    expect(ssm.commandCalls(UpdateServiceSettingCommand)).toHaveLength(0);
  });

  it('propagates ServiceSettingNotFound (a wrong ARN is not retried into success)', async () => {
    ssm.on(GetServiceSettingCommand).rejects(awsError('ServiceSettingNotFound'));
    await expect(enableAdvancedTier({}, testClients())).rejects.toMatchObject({
      name: 'ServiceSettingNotFound',
    });
  });
});
