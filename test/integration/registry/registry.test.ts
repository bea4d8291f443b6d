import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetRolePolicyCommand, IAMClient } from '@aws-sdk/client-iam';
import {
  GetDocumentCommand,
  GetServiceSettingCommand,
  SSMClient,
  UpdateServiceSettingCommand,
} from '@aws-sdk/client-ssm';
import type { Context } from 'aws-lambda';
import { acquireSharedResources } from '../../../functions/acquire-shared-resources/task.js';
import { configureSessionLogging } from '../../../functions/configure-session-logging/task.js';
import { createInstanceRole } from '../../../functions/create-instance-role/task.js';
import { createServiceRole } from '../../../functions/create-service-role/task.js';
import { handler as acquireHandler } from '../../../functions/acquire-shared-resources/handler.js';
import { releaseSharedResources } from '../../../functions/release-shared-resources/task.js';
import { awsClient, labClients } from '../../../functions/shared/clients.js';
import { labConfigSchema } from '../../../functions/shared/lab-config.js';
import type { LabRecord } from '../../../functions/shared/registry/lab-record.js';
import { LabRegistry } from '../../../functions/shared/registry/lab-registry.js';
import { documentClient } from '../../../functions/shared/registry/table.js';
import { ensureRegistryTable } from '../../../local/serve/registry-table.js';
import { useEmulator } from '../../helpers/emulator.js';
import { retrying } from '../../helpers/lab-builder.js';

useEmulator({ time: { tierChangeSeconds: 1 } });

const TABLE = 'registry-it';
let registry: LabRegistry;

beforeAll(async () => {
  // No client-side help: the emulator itself makes each DynamoDB request atomic, as DynamoDB does.
  const dynamodb = awsClient(DynamoDBClient);
  await ensureRegistryTable(dynamodb, TABLE);
  await ensureRegistryTable(dynamodb, TABLE); // an existing table is left as it is
  registry = new LabRegistry(documentClient(dynamodb), TABLE);
});

const lab = (labId: string) => labConfigSchema.parse({ labId, runId: `${labId}-g1-provision-1` });
const record = (labId: string): LabRecord => ({
  labId,
  status: 'provisioning',
  generation: 1,
  executionName: `${labId}-g1-provision-1`,
  workflow: 'provision-lab',
  options: { labId },
  steps: {},
  ledger: {},
  expiresAt: Math.floor(Date.now() / 1000) + 3600,
  nightlyReset: false,
  createdAt: new Date().toISOString(),
  updatedAt: new Date().toISOString(),
  version: 1,
});
const context = (folder: string) =>
  ({
    functionName: `session-lab-${folder}`,
    awsRequestId: 'r',
    getRemainingTimeInMillis: () => 60_000,
  }) as unknown as Context;

describe('lab records', () => {
  it('keeps every one of concurrent optimistic updates (none is lost)', async () => {
    await registry.labs.putLab({ ...record('counter-lab'), generation: 0 });
    await Promise.all(
      Array.from({ length: 4 }, () =>
        registry.labs.mutateLab('counter-lab', (current) => ({ generation: current.generation + 1 })),
      ),
    );
    await expect(registry.labs.getLab('counter-lab')).resolves.toMatchObject({ generation: 4, version: 5 });
    await expect(registry.labs.putLab(record('counter-lab'))).resolves.toBe(false);
  });

  it('records the progress of parallel steps of one lab without overwriting each other', async () => {
    await registry.labs.putLab(record('steps-lab'));
    const at = new Date().toISOString();
    await Promise.all(
      ['Create key pair', 'Create network', 'Create instance role'].map((name) =>
        registry.labs.recordStep(
          'steps-lab',
          { name, status: 'succeeded', startedAt: at },
          { ledger: { name } },
        ),
      ),
    );
    const stored = await registry.labs.getLab('steps-lab');
    expect(Object.keys(stored!.steps).sort()).toEqual([
      'Create instance role',
      'Create key pair',
      'Create network',
    ]);
    expect(Object.keys(stored!.ledger)).toHaveLength(3);
    await expect(
      registry.labs.recordStep('nobody', { name: 'x', status: 'running', startedAt: at }),
    ).resolves.toBeUndefined();
  });

  it('records a task’s step through labHandler when REGISTRY_TABLE is set', async () => {
    await registry.labs.putLab(record('handler-lab'));
    process.env.REGISTRY_TABLE = TABLE;
    try {
      const output = await acquireHandler({ lab: lab('handler-lab') }, context('acquire-shared-resources'));
      expect(output).toMatchObject({ registry: 'enabled' });
    } finally {
      delete process.env.REGISTRY_TABLE;
    }
    const stored = await registry.labs.getLab('handler-lab');
    expect(stored).toMatchObject({
      currentStep: 'Acquire shared resources',
      steps: { 'Acquire shared resources': { status: 'succeeded', endedAt: expect.any(String) } },
    });
    await releaseSharedResources(
      { labId: 'handler-lab' },
      { registry, clients: labClients(), revertOnLastRelease: false },
    );
  });
});

describe('readiness marks of the shared roles', () => {
  it('the first holder converges and marks; a later holder of the holding takes the mark; an earlier holding never overwrites a later one', async () => {
    const since = new Date().toISOString();
    const first = await createInstanceRole({ converge: true, heldSince: since }, labClients(), registry);
    await expect(registry.marks.readyValue('shared-roles/SSMLabProfile', since)).resolves.toEqual(first);
    await expect(
      createInstanceRole({ converge: false, heldSince: since }, labClients(), registry),
    ).resolves.toEqual(first);
    // Another holding's mark is not this one's.
    await expect(
      registry.marks.readyValue('shared-roles/SSMLabProfile', '2020-01-01T00:00:00.000Z'),
    ).resolves.toBeUndefined();
    await registry.marks.markReady('shared-roles/SSMLabProfile', '2020-01-01T00:00:00.000Z', { stale: true });
    await expect(registry.marks.readyValue('shared-roles/SSMLabProfile', since)).resolves.toEqual(first);
  });
});

describe('account-wide singletons', () => {
  const labs = ['class-a-01', 'class-a-02', 'class-a-03'];
  const ssm = () => awsClient(SSMClient);
  /** Whether SSMLabRole and SSMServiceRole hold configure-session-logging's inline policy. */
  const loggingPolicies = () =>
    Promise.all(
      ['SSMLabRole', 'SSMServiceRole'].map((RoleName) =>
        awsClient(IAMClient)
          .send(new GetRolePolicyCommand({ RoleName, PolicyName: 'SessionLabSessionLogging-us-east-1' }))
          .then(
            () => true,
            (err: unknown) => {
              if ((err as Error).name === 'NoSuchEntityException') return false;
              throw err;
            },
          ),
      ),
    );

  it('three concurrent provisions: one first holder per singleton, three holders, the account state recorded', async () => {
    const results = await Promise.all(
      labs.map((labId) => acquireSharedResources({ lab: lab(labId) }, { registry, clients: labClients() })),
    );
    for (const singleton of ['advancedTier', 'preferences', 'logGroup', 'sharedRoles'] as const) {
      expect(results.filter((r) => r.mustCreate[singleton])).toHaveLength(1);
      // Every holder learns when the holding began: the others wait that long for the first.
      const since = new Set(results.map((r) => r.heldSince[singleton]));
      expect(since.size).toBe(1);
      expect(Date.parse([...since][0]!)).not.toBeNaN();
    }
    const tier = await registry.locks.getShared('advanced-tier');
    expect(tier).toMatchObject({
      holderCount: 3,
      holders: labs,
      phase: 'held',
      previous: { value: 'standard' },
    });
    expect(labs).toContain(tier!.firstHolder);
    await expect(registry.locks.getShared('session-preferences')).resolves.toMatchObject({
      previous: { exists: false },
    });

    // What the first holder then does in the provision workflow: the tier and the preferences.
    await ssm().send(
      new UpdateServiceSettingCommand({
        SettingId: 'arn:aws:ssm:us-east-1:123456789012:servicesetting/ssm/managed-instance/activation-tier',
        SettingValue: 'advanced',
      }),
    );
    await retrying(() => createInstanceRole({}, labClients()));
    await retrying(() => createServiceRole({}, labClients()));
    await configureSessionLogging({ lab: lab(labs[0]!) }, labClients());
    await expect(loggingPolicies()).resolves.toEqual([true, true]);
  });

  it('refuses a fourth lab with other preferences, naming the field, and leaves it holding nothing', async () => {
    const other = labConfigSchema.parse({
      labId: 'class-b-01',
      runId: 'r',
      logGroupName: '/session-lab/other-logs',
    });
    await expect(
      acquireSharedResources({ lab: other }, { registry, clients: labClients() }),
    ).rejects.toMatchObject({
      name: 'SharedSettingConflict',
      field: 'logGroupName',
    });
    await expect(registry.locks.sharedHeldBy('class-b-01')).resolves.toEqual([]);
  });

  it('releasing two labs leaves the settings in place; the last release reverts them when configured', async () => {
    await new Promise((resolve) => setTimeout(resolve, 50)); // the tier change takes effect
    const deps = { registry, clients: labClients(), revertOnLastRelease: true };
    const first = await Promise.all(labs.slice(0, 2).map((labId) => releaseSharedResources({ labId }, deps)));
    expect(first.map((r) => r.lastHolder)).toEqual([false, false]);
    expect(first.flatMap((r) => r.reverted)).toEqual([]);
    const kept = await ssm().send(
      new GetServiceSettingCommand({ SettingId: '/ssm/managed-instance/activation-tier' }),
    );
    expect(kept.ServiceSetting?.SettingValue).toBe('advanced');
    await expect(
      ssm().send(new GetDocumentCommand({ Name: 'SSM-SessionManagerRunShell' })),
    ).resolves.toBeDefined();
    await expect(loggingPolicies()).resolves.toEqual([true, true]);

    const last = await releaseSharedResources({ labId: labs[2]! }, deps);
    expect(last).toMatchObject({
      lastHolder: true,
      reverted: [
        { key: 'advanced-tier', action: 'reset' },
        { key: 'session-preferences', action: 'deleted' },
      ],
    });
    const reset = await ssm().send(
      new GetServiceSettingCommand({ SettingId: '/ssm/managed-instance/activation-tier' }),
    );
    expect(reset.ServiceSetting?.SettingValue).toBe('standard');
    await expect(
      ssm().send(new GetDocumentCommand({ Name: 'SSM-SessionManagerRunShell' })),
    ).rejects.toMatchObject({
      name: 'InvalidDocument',
    });
    // The session logging grants went with the preferences.
    await expect(loggingPolicies()).resolves.toEqual([false, false]);
    await expect(registry.locks.getShared('advanced-tier')).resolves.toMatchObject({
      holderCount: 0,
      phase: 'idle',
    });
    await expect(registry.locks.getShared('advanced-tier')).resolves.not.toHaveProperty('previous');
    // Releasing again is a no-op that repeats the answer and reverts nothing more.
    await expect(releaseSharedResources({ labId: labs[2]! }, deps)).resolves.toMatchObject({
      released: [],
      reverted: [],
    });
  });
});
