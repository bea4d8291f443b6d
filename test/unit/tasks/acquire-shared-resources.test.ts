import { GetDocumentCommand, GetServiceSettingCommand, SSMClient } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import {
  DynamoDBDocumentClient,
  GetCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { acquireSharedResources } from '../../../functions/acquire-shared-resources/task.js';
import { stableJson } from '../../../functions/shared/registry/shared-locks.js';
import { preferencesConfig } from '../../../functions/shared/shared-resources.js';
import { awsError, inputsOf, mockCallerIdentity, testClients, testLab } from '../../helpers/aws-mock.js';
import { conditionFailed, testRegistry } from '../../helpers/registry.js';

const doc = mockClient(DynamoDBDocumentClient);
const ssm = mockClient(SSMClient);
const sts = mockClient(STSClient);

beforeEach(() => {
  doc.reset();
  ssm.reset();
  sts.reset();
  mockCallerIdentity(sts);
  ssm
    .on(GetServiceSettingCommand)
    .resolves({ ServiceSetting: { SettingValue: 'standard', Status: 'Default' } });
  ssm.on(GetDocumentCommand).rejects(awsError('InvalidDocument'));
});

const keyOf = (input: UpdateCommandInput) => String(input.Key!.pk).replace(/^shared#/, '');
const isFirstHolderWrite = (input: UpdateCommandInput) =>
  input.UpdateExpression!.includes('if_not_exists(#version');
const lab = testLab();

describe('acquireSharedResources', () => {
  it('without a registry tells the lab to ensure everything itself and calls nothing', async () => {
    await expect(acquireSharedResources({ lab }, { clients: testClients() })).resolves.toEqual({
      labId: 'demo',
      registry: 'disabled',
      mustCreate: { advancedTier: true, preferences: true, logGroup: true, sharedRoles: true },
      holders: { advancedTier: 1, preferences: 1, logGroup: 1, sharedRoles: 1 },
      heldSince: {
        advancedTier: expect.any(String),
        preferences: expect.any(String),
        logGroup: expect.any(String),
        sharedRoles: expect.any(String),
      },
    });
    expect(ssm.calls()).toHaveLength(0);
  });

  it("makes the first lab create every singleton and records the account's state before it", async () => {
    const since = '2026-12-04T10:00:00.000Z';
    // Every singleton is free: joining is refused, becoming the first holder is not.
    doc.on(UpdateCommand).callsFake(async (input: UpdateCommandInput) => {
      if (!isFirstHolderWrite(input)) throw conditionFailed();
      return { Attributes: { holderCount: 1, heldSince: since } };
    });
    const result = await acquireSharedResources(
      { lab },
      { registry: testRegistry(), clients: testClients() },
    );
    expect(result).toMatchObject({
      registry: 'enabled',
      mustCreate: { advancedTier: true, preferences: true, logGroup: true, sharedRoles: true },
      // When each holding began: how long other labs wait for this one to create the singleton.
      heldSince: { advancedTier: since, preferences: since, logGroup: since, sharedRoles: since },
    });
    const writes = inputsOf(doc, UpdateCommand).filter(isFirstHolderWrite);
    expect(writes.map(keyOf).sort()).toEqual([
      'advanced-tier',
      'log-group:SSM-Logs',
      'session-preferences',
      'shared-roles',
    ]);
    const valuesOf = (key: string) =>
      Object.values(writes.find((w) => keyOf(w) === key)!.ExpressionAttributeValues!);
    expect(valuesOf('advanced-tier')).toContainEqual({ value: 'standard' });
    expect(valuesOf('session-preferences')).toContainEqual({ exists: false });
    expect(valuesOf('session-preferences')).toContainEqual(
      expect.objectContaining({
        logGroupName: 'SSM-Logs',
        cloudWatchStreaming: true,
        idleSessionTimeoutMinutes: 20,
      }),
    );
  });

  it('keeps the existing preferences document as the snapshot', async () => {
    ssm.on(GetDocumentCommand).resolves({ Content: '{"inputs":{}}', DocumentFormat: 'JSON' });
    doc.on(UpdateCommand).callsFake(async (input: UpdateCommandInput) => {
      if (!isFirstHolderWrite(input)) throw conditionFailed();
      return { Attributes: { holderCount: 1 } };
    });
    await acquireSharedResources({ lab }, { registry: testRegistry(), clients: testClients() });
    const prefs = inputsOf(doc, UpdateCommand)
      .filter(isFirstHolderWrite)
      .find((w) => keyOf(w) === 'session-preferences')!;
    expect(Object.values(prefs.ExpressionAttributeValues!)).toContainEqual({
      exists: true,
      content: '{"inputs":{}}',
      format: 'JSON',
    });
  });

  it('lets a later lab join what is held: it creates nothing', async () => {
    doc.on(UpdateCommand).callsFake(async (input: UpdateCommandInput) => {
      if (isFirstHolderWrite(input)) throw conditionFailed();
      return { Attributes: { holderCount: 2 } };
    });
    await expect(
      acquireSharedResources({ lab }, { registry: testRegistry(), clients: testClients() }),
    ).resolves.toMatchObject({
      mustCreate: { advancedTier: false, preferences: false, logGroup: false, sharedRoles: false },
      holders: { advancedTier: 2, preferences: 2, logGroup: 2, sharedRoles: 2 },
    });
    // A lab joining a holding reads nothing of the account: a class does not read the tier and the
    // document once per lab against SSM's rate limits, and no first-holder write is even tried.
    expect(ssm.commandCalls(GetServiceSettingCommand)).toHaveLength(0);
    expect(ssm.commandCalls(GetDocumentCommand)).toHaveLength(0);
    expect(inputsOf(doc, UpdateCommand).filter(isFirstHolderWrite)).toHaveLength(0);
  });

  it('refuses different preferences naming the field, and gives back the references it took', async () => {
    const heldConfig = preferencesConfig(testLab({ logGroupName: '/session-lab/class-logs' }));
    doc.on(UpdateCommand).callsFake(async (input: UpdateCommandInput) => {
      if (keyOf(input) === 'session-preferences') throw conditionFailed();
      if (isFirstHolderWrite(input)) return { Attributes: { holderCount: 1 } };
      return { Attributes: { holderCount: 0 } };
    });
    doc.on(GetCommand).resolves({
      Item: {
        pk: 'shared#session-preferences',
        holders: new Set(['other-lab']),
        holderCount: 1,
        phase: 'held',
        config: heldConfig,
        configHash: stableJson(heldConfig),
      },
    });
    await expect(
      acquireSharedResources({ lab }, { registry: testRegistry(), clients: testClients() }),
    ).rejects.toMatchObject({ name: 'SharedSettingConflict', field: 'logGroupName' });
    const releases = inputsOf(doc, UpdateCommand).filter((w) =>
      w.UpdateExpression!.includes('REMOVE #holders'),
    );
    expect(releases.map(keyOf).sort()).toEqual(['advanced-tier', 'log-group:SSM-Logs', 'shared-roles']);
  });

  it('a first holder whose snapshot read is throttled takes no reference on it and gives back the others', async () => {
    ssm.on(GetServiceSettingCommand).rejects(awsError('ThrottlingException'));
    doc.on(UpdateCommand).callsFake(async (input: UpdateCommandInput) => {
      if (input.UpdateExpression!.includes('DELETE')) return { Attributes: { holderCount: 0 } };
      if (!isFirstHolderWrite(input)) throw conditionFailed();
      return { Attributes: { holderCount: 1 } };
    });
    await expect(
      acquireSharedResources({ lab }, { registry: testRegistry(), clients: testClients() }),
    ).rejects.toMatchObject({ name: 'ThrottlingException' });
    const taken = inputsOf(doc, UpdateCommand).filter(isFirstHolderWrite).map(keyOf);
    expect(taken).not.toContain('advanced-tier');
    const released = inputsOf(doc, UpdateCommand)
      .filter((w) => w.UpdateExpression!.includes('DELETE'))
      .map(keyOf);
    expect(released.sort()).toEqual(taken.sort());
  });
});
