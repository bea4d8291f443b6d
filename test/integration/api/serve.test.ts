import { jest } from '@jest/globals';
import { GetServiceSettingCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { Context } from 'aws-lambda';
import { buildProgram } from '../../../cli/index.js';
import type { AcquireSharedResourcesOutput } from '../../../functions/acquire-shared-resources/task.js';
import { resetDueLabs } from '../../../functions/reset-due-labs/task.js';
import { awsClient } from '../../../functions/shared/clients.js';
import { labConfigSchema } from '../../../functions/shared/lab-config.js';
import type { LocalRun, LocalRunOutcome } from '../../../local/serve/local-starter.js';
import { startServing, type Serving } from '../../../local/serve/serve.js';
import { useEmulator } from '../../helpers/emulator.js';

useEmulator({ time: { tierChangeSeconds: 1 } });

type Handler = (event: unknown, context: Context) => Promise<unknown>;
const invoke = async (folder: string, event: unknown) => {
  const { handler } = (await import(`../../../functions/${folder}/handler.js`)) as { handler: Handler };
  const context = {
    functionName: `session-lab-${folder}`,
    awsRequestId: folder,
    getRemainingTimeInMillis: () => 60_000,
  } as unknown as Context;
  return handler(event, context);
};

/** Labs whose provisioning switched the tier on (the first holder's job). */
const tierEnabledBy: string[] = [];

/**
 * A stand-in for the workflows until they run end to end locally: the same in-process handlers
 * the local runner would call for the lifecycle's own steps (acquire the shared resources, switch
 * the tier on as their first holder, release them on teardown), with the workflows' names and the
 * reset's `-teardown` / `-provision` children. Lab hosts are out of its scope.
 */
const standIn: LocalRun = async (name, input, executionName): Promise<LocalRunOutcome> => {
  const labId = (input as { labId: string }).labId;
  const provision = async (runId: string) => {
    const lab = labConfigSchema.parse({ ...(input as object), runId });
    const shared = (await invoke('acquire-shared-resources', { lab })) as AcquireSharedResourcesOutput;
    if (shared.mustCreate.advancedTier) {
      tierEnabledBy.push(labId);
      await invoke('enable-advanced-tier', { labId });
    }
    return {
      labId,
      ok: true,
      user: {
        userName: `MyWorkshopUser-${labId}`,
        passwordSecretArn: `arn:aws:secretsmanager:us-east-1:123456789012:secret:${labId}`,
      },
      accessMatrix: [],
    };
  };
  const teardown = (runId: string) => invoke('release-shared-resources', { labId, executionName: runId });
  try {
    if (name === 'provision-lab') return { status: 'SUCCEEDED', output: await provision(executionName) };
    if (name === 'teardown-lab') {
      await teardown(executionName);
      return { status: 'SUCCEEDED', output: { labId, removed: true } };
    }
    await teardown(`${executionName}-teardown`);
    const report = await provision(`${executionName}-provision`);
    return { status: 'SUCCEEDED', output: { Output: JSON.stringify(report), Status: 'SUCCEEDED' } };
  } catch (err) {
    return { status: 'FAILED', error: (err as Error).name, cause: (err as Error).message };
  }
};

let serving: Serving;
beforeAll(async () => {
  process.env.REVERT_SHARED_ON_LAST_RELEASE = 'true';
  serving = await startServing({ port: 0, run: standIn, tableName: 'serve-it' });
});
afterAll(async () => {
  await serving?.starter.idle();
  await serving?.stop();
});

async function api(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${serving.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return {
    status: response.status,
    body: (await response.json()) as Record<string, unknown> & { labs?: unknown[] },
  };
}
const tier = async () =>
  (
    await awsClient(SSMClient).send(
      new GetServiceSettingCommand({ SettingId: '/ssm/managed-instance/activation-tier' }),
    )
  ).ServiceSetting?.SettingValue;

describe('session-lab serve', () => {
  it('listens on 127.0.0.1 only', () => {
    expect(serving.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('refuses bad requests over HTTP with JSON errors naming the field', async () => {
    await expect(api('POST', '/labs', '{"labId": ')).resolves.toMatchObject({
      status: 400,
      body: { field: 'body' },
    });
    await expect(api('POST', '/labs', { labId: 'stu-01', colour: 'red' })).resolves.toMatchObject({
      status: 400,
      body: { code: 'InvalidRequest', field: 'colour' },
    });
    await expect(api('POST', '/labs', { labId: 'stu-01', owner: 'x'.repeat(70_000) })).resolves.toMatchObject(
      {
        status: 400,
        body: { field: 'body' },
      },
    );
    await expect(api('GET', '/labs/Not_A_Lab')).resolves.toMatchObject({
      status: 400,
      body: { field: 'labId' },
    });
    await expect(api('GET', '/labs?limit=500')).resolves.toMatchObject({
      status: 400,
      body: { field: 'limit' },
    });
    await expect(api('GET', '/labs/nobody')).resolves.toMatchObject({
      status: 404,
      body: { code: 'LabNotFound' },
    });
    await expect(api('PUT', '/labs')).resolves.toMatchObject({ status: 405 });
    await expect(api('GET', '/nowhere')).resolves.toMatchObject({ status: 404 });
    await expect(api('GET', '/labs')).resolves.toEqual({ status: 200, body: { labs: [] } });
  });

  it('provisions three labs created concurrently: all ready, the shared singletons set once', async () => {
    const created = await Promise.all(
      ['stu-01', 'stu-02', 'stu-03'].map((labId) =>
        api(
          'POST',
          '/labs',
          { labId, owner: 'teacher', expiresInHours: labId === 'stu-03' ? 1 : 72 },
          {
            'Idempotency-Key': `create-${labId}`,
          },
        ),
      ),
    );
    expect(created).toEqual(
      ['stu-01', 'stu-02', 'stu-03'].map((labId) => ({
        status: 202,
        body: { labId, status: 'provisioning' },
      })),
    );
    // The same request again answers the same lab; another token is a conflict.
    await expect(
      api('POST', '/labs', { labId: 'stu-01', owner: 'teacher' }, { 'Idempotency-Key': 'create-stu-01' }),
    ).resolves.toMatchObject({
      status: 202,
    });
    await expect(
      api('POST', '/labs', { labId: 'stu-01' }, { 'Idempotency-Key': 'other' }),
    ).resolves.toMatchObject({
      status: 409,
      body: { code: 'LabExists' },
    });
    await serving.starter.idle();
    expect(serving.starter.list()).toHaveLength(3);

    for (const labId of ['stu-01', 'stu-02', 'stu-03']) {
      const { status, body } = await api('GET', `/labs/${labId}`);
      expect(status).toBe(200);
      expect(body).toMatchObject({
        labId,
        status: 'ready',
        generation: 1,
        owner: 'teacher',
        steps: expect.arrayContaining([
          expect.objectContaining({ name: 'Acquire shared resources', status: 'succeeded' }),
        ]),
        report: { labId, ok: true },
      });
      expect(JSON.stringify(body)).not.toMatch(/"password"/);
    }
    expect(tierEnabledBy).toHaveLength(1);
    await expect(tier()).resolves.toBe('advanced');
    await expect(serving.registry.getShared('advanced-tier')).resolves.toMatchObject({ holderCount: 3 });
    const listed = await api('GET', '/labs?owner=teacher&status=ready');
    expect(listed.body.labs).toHaveLength(3);
  });

  it('session-lab list prints the labs of the registry', async () => {
    const printed: string[] = [];
    const log = jest
      .spyOn(console, 'log')
      .mockImplementation((line: unknown) => void printed.push(String(line)));
    try {
      let code: number | undefined;
      await buildProgram((c) => (code = c)).parseAsync(['node', 'session-lab', 'list', '--json']);
      expect(code).toBe(0);
    } finally {
      log.mockRestore();
    }
    const labs = JSON.parse(printed.join('\n')) as { labId: string; status: string }[];
    expect(labs.map((l) => [l.labId, l.status])).toEqual([
      ['stu-01', 'ready'],
      ['stu-02', 'ready'],
      ['stu-03', 'ready'],
    ]);
  });

  it('deleting two labs leaves the third intact and the shared settings in place', async () => {
    const deleted = await Promise.all(['stu-01', 'stu-02'].map((labId) => api('DELETE', `/labs/${labId}`)));
    expect(deleted.map((d) => d.status)).toEqual([202, 202]);
    expect(deleted.map((d) => d.body.status)).toEqual(['tearing-down', 'tearing-down']);
    await serving.starter.idle();
    for (const labId of ['stu-01', 'stu-02'])
      await expect(api('GET', `/labs/${labId}`)).resolves.toMatchObject({ body: { status: 'deleted' } });
    await expect(api('DELETE', '/labs/stu-01')).resolves.toMatchObject({
      status: 202,
      body: { status: 'deleted' },
    });
    await expect(api('GET', '/labs/stu-03')).resolves.toMatchObject({ body: { status: 'ready' } });
    await expect(tier()).resolves.toBe('advanced');
    await expect(serving.registry.getShared('advanced-tier')).resolves.toMatchObject({
      holderCount: 1,
      holders: ['stu-03'],
    });
  });

  it('resets a lab to a new generation under a new execution name, keeping its shared resources', async () => {
    const before = await api('GET', '/labs/stu-03');
    await expect(api('POST', '/labs/stu-03/reset')).resolves.toEqual({
      status: 202,
      body: { labId: 'stu-03', status: 'provisioning', generation: 2 },
    });
    await serving.starter.idle();
    const after = await api('GET', '/labs/stu-03');
    expect(after.body).toMatchObject({ status: 'ready', generation: 2, report: { labId: 'stu-03' } });
    expect(after.body.executionName).not.toBe(before.body.executionName);
    await expect(serving.registry.getShared('advanced-tier')).resolves.toMatchObject({ holderCount: 1 });
    // Only the first holder ever ensures the tier (again, idempotently, if it is the lab reset).
    expect(new Set(tierEnabledBy).size).toBe(1);
  });

  it('the schedule tears down an expired lab and resets a nightly one to a new generation', async () => {
    await expect(api('POST', '/labs', { labId: 'stu-04', nightlyReset: true })).resolves.toMatchObject({
      status: 202,
    });
    await serving.starter.idle();
    const twoHoursOn = new Date(Date.now() + 2 * 3600 * 1000).toISOString();
    const sweep = await resetDueLabs(
      { expire: true, reset: true, now: twoHoursOn },
      { registry: serving.registry, starter: serving.starter },
    );
    expect(sweep.teardowns.map((t) => t.labId)).toEqual(['stu-03']);
    expect(sweep.resets).toEqual([
      { labId: 'stu-04', generation: 2, executionName: expect.stringMatching(/^stu-04-g2-reset-/) },
    ]);
    await serving.starter.idle();
    await expect(api('GET', '/labs/stu-03')).resolves.toMatchObject({ body: { status: 'deleted' } });
    await expect(api('GET', '/labs/stu-04')).resolves.toMatchObject({
      body: { status: 'ready', generation: 2 },
    });
    await expect(tier()).resolves.toBe('advanced');
  });

  it('deleting the last lab releases the shared settings as configured (reverted)', async () => {
    await expect(api('DELETE', '/labs/stu-04')).resolves.toMatchObject({ status: 202 });
    await serving.starter.idle();
    await expect(api('GET', '/labs/stu-04')).resolves.toMatchObject({ body: { status: 'deleted' } });
    await expect(serving.registry.getShared('advanced-tier')).resolves.toMatchObject({
      holderCount: 0,
      phase: 'idle',
    });
    await expect(tier()).resolves.toBe('standard');
    const deleted = await api('GET', '/labs?status=deleted');
    expect(deleted.body.labs).toHaveLength(4);
  });
});
