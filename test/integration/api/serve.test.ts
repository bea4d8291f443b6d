import { jest } from '@jest/globals';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { SimulatePrincipalPolicyCommand } from '@aws-sdk/client-iam';
import {
  DescribeDocumentCommand,
  GetServiceSettingCommand,
  ListTagsForResourceCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { buildProgram } from '../../../cli/index.js';
import { SFNClient } from '@aws-sdk/client-sfn';
import { resetDueLabs } from '../../../functions/reset-due-labs/task.js';
import { sfnStarterFromEnv } from '../../../functions/shared/workflow-starter.js';
import { awsClient, labClients } from '../../../functions/shared/clients.js';
import { isErrorNamed } from '../../../functions/shared/errors.js';
import { inventoryCount, labInventory } from '../../../functions/shared/lab-inventory.js';
import { SHARED_NAMES } from '../../../functions/shared/names.js';
import { toTagRecord } from '../../../functions/shared/tags.js';
import { tagContextEntries, targetArn } from '../../../functions/verify-lab/access-matrix.js';
import type { LabReport } from '../../../functions/verify-lab/task.js';
import { ensureTemplate } from '../../../local/deployment/artifacts.js';
import { startLambdaService, type LambdaService } from '../../../local/runner/lambda-service.js';
import { runLocally } from '../../../local/runner/runner.js';
import { startServing, type HostingServing } from '../../../local/serve/serve.js';
import { ACCOUNT_ID } from '../../../local/emulator/index.js';
import { TEST_REGION, SHORT_DELAYS, useEmulator } from '../../helpers/emulator.js';

/**
 * The portal API served locally (`session-lab serve`) with the real workflows: each request's
 * provision, teardown and reset runs the shipped state machine files through the local runner
 * against the emulator, with the lab registry, the shared singletons' reference counts, progress
 * and the last release's revert, as deployed. Issue 6's "done when", end to end.
 */

const TIME_SCALE = 0.05;
const emulator = useEmulator({ time: { scale: TIME_SCALE, ...SHORT_DELAYS } });
jest.setTimeout(600_000);

let serving: HostingServing;
let deployment: LambdaService;
beforeAll(async () => {
  // Deployed with the last release reverting the shared settings (`-c revertSharedOnLastRelease=true`).
  deployment = await startLambdaService({
    endpoint: emulator().url,
    region: TEST_REGION,
    template: await ensureTemplate({ revertSharedOnLastRelease: 'true' }),
  });
  serving = await startServing({
    port: 0,
    emulator: emulator(),
    lambda: deployment,
    run: (name, input, executionName) =>
      runLocally(name, { input, executionName, timeScale: TIME_SCALE, lambdaService: deployment }),
  });
});
afterAll(async () => {
  await serving?.starter.idle();
  await serving?.stop();
  await deployment?.stop();
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

interface LabView {
  labId: string;
  status: string;
  generation: number;
  executionName: string;
  steps: { name: string; status: string }[];
  report: LabReport | null;
  error?: unknown;
}
/** The schedule's function's environment, as its template declares it. */
const sweepEnvironment = () => deployment.stack.functions.get('reset-due-labs')!.environment;
const lab = async (labId: string) => (await api('GET', `/labs/${labId}`)).body as unknown as LabView;

const ssm = () => awsClient(SSMClient);
const tier = async () =>
  (await ssm().send(new GetServiceSettingCommand({ SettingId: '/ssm/managed-instance/activation-tier' })))
    .ServiceSetting?.SettingValue;
/** The preferences document's versions, or undefined when there is none. */
const preferencesVersions = async () => {
  try {
    const { Document } = await ssm().send(
      new DescribeDocumentCommand({ Name: SHARED_NAMES.preferencesDocument }),
    );
    return Number(Document?.LatestVersion);
  } catch (err) {
    if (isErrorNamed(err, 'InvalidDocument')) return undefined;
    throw err;
  }
};
const EMPTY = {
  instances: [],
  securityGroups: [],
  keyPairs: [],
  parameters: [],
  activations: [],
  managedNodes: [],
  users: [],
  policies: [],
  secrets: [],
};

/** The real tags of a node: EC2 tags for `i-`, SSM tags for `mi-`. */
async function tagsOf(nodeId: string): Promise<Record<string, string>> {
  if (nodeId.startsWith('mi-')) {
    const { TagList } = await ssm().send(
      new ListTagsForResourceCommand({ ResourceType: 'ManagedInstance', ResourceId: nodeId }),
    );
    return toTagRecord(TagList);
  }
  const { Reservations } = await labClients().ec2.send(
    new DescribeInstancesCommand({ InstanceIds: [nodeId] }),
  );
  return toTagRecord(Reservations?.[0]?.Instances?.[0]?.Tags);
}

/** Whether IAM lets `user` start a session on `nodeId`, as StartSession would decide (the node's real tags). */
async function mayStartSession(user: string, nodeId: string): Promise<string> {
  const { EvaluationResults } = await labClients().iam.send(
    new SimulatePrincipalPolicyCommand({
      PolicySourceArn: `arn:aws:iam::${ACCOUNT_ID}:user/${user}`,
      ActionNames: ['ssm:StartSession'],
      ResourceArns: [
        targetArn(
          { kind: nodeId.startsWith('mi-') ? 'hybrid' : 'ec2', nodeId },
          'aws',
          TEST_REGION,
          ACCOUNT_ID,
        ),
      ],
      ContextEntries: tagContextEntries(await tagsOf(nodeId)),
    }),
  );
  const result = EvaluationResults?.[0];
  return result?.ResourceSpecificResults?.[0]?.EvalResourceDecision ?? result?.EvalDecision ?? 'unknown';
}

const CLASS = ['stu-01', 'stu-02', 'stu-03'];

describe('session-lab serve with the real workflows', () => {
  it('listens on 127.0.0.1 only and refuses bad requests with JSON errors naming the field', async () => {
    expect(serving.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await expect(api('POST', '/labs', '{"labId": ')).resolves.toMatchObject({
      status: 400,
      body: { field: 'body' },
    });
    await expect(api('POST', '/labs', { labId: 'stu-01', colour: 'red' })).resolves.toMatchObject({
      status: 400,
      body: { code: 'InvalidRequest', field: 'colour' },
    });
    await expect(api('GET', '/labs/Not_A_Lab')).resolves.toMatchObject({
      status: 400,
      body: { field: 'labId' },
    });
    await expect(api('GET', '/labs/nobody')).resolves.toMatchObject({
      status: 404,
      body: { code: 'LabNotFound' },
    });
    await expect(api('PUT', '/labs')).resolves.toMatchObject({ status: 405 });
    await expect(api('GET', '/labs')).resolves.toEqual({ status: 200, body: { labs: [] } });
    expect(serving.starter.list()).toEqual([]);
  });

  it('provisions a class of three labs concurrently (one provision-class Map): all ready, the shared singletons set once', async () => {
    const created = await api(
      'POST',
      '/classes',
      { classId: 'stu', count: 3, options: { owner: 'teacher' }, nightlyReset: true },
      { 'Idempotency-Key': 'class-stu' },
    );
    expect(created).toEqual({
      status: 202,
      body: { classId: 'stu', labs: CLASS.map((labId) => ({ labId, status: 'provisioning' })) },
    });
    // The same request again answers the same labs and starts nothing new.
    await expect(
      api(
        'POST',
        '/classes',
        { classId: 'stu', count: 3, options: { owner: 'teacher' }, nightlyReset: true },
        {
          'Idempotency-Key': 'class-stu',
        },
      ),
    ).resolves.toMatchObject({ status: 202, body: { classId: 'stu' } });
    // While they provision, the API shows their progress step by step.
    await expect(lab('stu-01')).resolves.toMatchObject({ status: 'provisioning' });

    await serving.starter.idle();
    expect(serving.starter.list().map((e) => [e.workflow, e.status])).toEqual([
      ['provision-class', 'SUCCEEDED'],
    ]);
    const labs = await Promise.all(CLASS.map(lab));
    for (const view of labs) {
      expect(view).toMatchObject({ status: 'ready', generation: 1, report: { ok: true } });
      const steps = Object.fromEntries(view.steps.map((step) => [step.name, step.status]));
      expect(steps).toMatchObject({
        'Validate lab input': 'succeeded',
        'Acquire shared resources': 'succeeded',
        'Create instance role': 'succeeded',
        'Register agents': 'succeeded',
        'Verify lab': 'succeeded',
      });
      expect(JSON.stringify(view)).not.toMatch(/"password"|PRIVATE KEY/);
    }
    // Only the tier's first holder switched it on; the others only waited for it.
    const enabledBy = labs.filter((view) => view.steps.some((step) => step.name === 'Enable advanced tier'));
    expect(enabledBy).toHaveLength(1);
    for (const view of labs) expect(view.steps.map((s) => s.name)).toContain('Wait for advanced tier');
    await expect(tier()).resolves.toBe('advanced');
    const shared = await serving.registry.locks.getShared('advanced-tier');
    expect(shared).toMatchObject({ holderCount: 3, holders: CLASS, firstHolder: enabledBy[0]!.labId });
    await expect(serving.registry.locks.getShared('session-preferences')).resolves.toMatchObject({
      holderCount: 3,
    });
    // The preferences document was written once, by one of them.
    await expect(preferencesVersions()).resolves.toBe(1);
    const listed = await api('GET', '/labs?classId=stu&owner=teacher&status=ready');
    expect(listed.body.labs).toHaveLength(3);
  });

  it('lets each student start sessions only on their own lab’s Dev nodes', async () => {
    const reports = (await Promise.all(CLASS.map(lab))).map((view) => view.report!);
    const devNodes = reports.map((report) =>
      report.nodes.filter((node) => node.environment === 'Dev').map((node) => node.nodeId),
    );
    expect(devNodes.map((ids) => ids.length)).toEqual([2, 2, 2]);
    const decisions: string[][] = [];
    for (const report of reports) {
      const row: string[] = [];
      for (const ids of devNodes) {
        const answers = await Promise.all(ids.map((id) => mayStartSession(report.user.userName, id)));
        row.push([...new Set(answers)].join('/'));
      }
      decisions.push(row);
    }
    // Rows: students; columns: labs' Dev nodes (an EC2 and a hybrid node each).
    expect(decisions).toEqual([
      ['allowed', 'implicitDeny', 'implicitDeny'],
      ['implicitDeny', 'allowed', 'implicitDeny'],
      ['implicitDeny', 'implicitDeny', 'allowed'],
    ]);
    // The labs' own verification checked other labs' nodes too (those Online when it ran), all denied.
    const otherCells = reports.flatMap((report) =>
      report.accessMatrix.filter((cell) => cell.role === 'other-lab'),
    );
    expect(otherCells.length).toBeGreaterThan(0);
    for (const cell of otherCells) expect(cell).toMatchObject({ expected: 'denied', actual: 'denied' });
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
    expect(labs.map((l) => [l.labId, l.status])).toEqual(CLASS.map((labId) => [labId, 'ready']));
  });

  it('deleting two labs leaves the third intact and the shared settings in place; nothing of theirs remains', async () => {
    const before = inventoryCount(await labInventory(labClients(), 'stu-03'));
    const deleted = await Promise.all(['stu-01', 'stu-02'].map((labId) => api('DELETE', `/labs/${labId}`)));
    expect(deleted.map((d) => [d.status, d.body.status])).toEqual([
      [202, 'tearing-down'],
      [202, 'tearing-down'],
    ]);
    await serving.starter.idle();
    for (const labId of ['stu-01', 'stu-02']) {
      await expect(lab(labId)).resolves.toMatchObject({ status: 'deleted' });
      await expect(labInventory(labClients(), labId)).resolves.toEqual(EMPTY);
    }
    await expect(api('DELETE', '/labs/stu-01')).resolves.toMatchObject({
      status: 202,
      body: { status: 'deleted' },
    });
    await expect(lab('stu-03')).resolves.toMatchObject({ status: 'ready', report: { ok: true } });
    expect(inventoryCount(await labInventory(labClients(), 'stu-03'))).toBe(before);
    await expect(tier()).resolves.toBe('advanced');
    await expect(preferencesVersions()).resolves.toBe(1);
    await expect(serving.registry.locks.getShared('advanced-tier')).resolves.toMatchObject({
      holderCount: 1,
      holders: ['stu-03'],
    });
  });

  it('the schedule tears down an expired lab and resets a due one to a new generation', async () => {
    const create = { labId: 'stu-04', owner: 'teacher', expiresInHours: 1 };
    await expect(api('POST', '/labs', create, { 'Idempotency-Key': 'create-stu-04' })).resolves.toEqual({
      status: 202,
      body: { labId: 'stu-04', status: 'provisioning' },
    });
    // The same request again answers the same lab; another token is a conflict.
    await expect(api('POST', '/labs', create, { 'Idempotency-Key': 'create-stu-04' })).resolves.toMatchObject(
      {
        status: 202,
      },
    );
    await expect(
      api('POST', '/labs', { labId: 'stu-04' }, { 'Idempotency-Key': 'other' }),
    ).resolves.toMatchObject({
      status: 409,
      body: { code: 'LabExists' },
    });
    await serving.starter.idle();
    await expect(lab('stu-04')).resolves.toMatchObject({ status: 'ready', generation: 1 });
    const before = await lab('stu-03');

    const twoHoursOn = new Date(Date.now() + 2 * 3600 * 1000).toISOString();
    const sweep = await resetDueLabs(
      { expire: true, reset: true, now: twoHoursOn },
      // What the deployed reset-due-labs starts with: StartExecution on its template's state machines.
      { registry: serving.registry, starter: sfnStarterFromEnv(awsClient(SFNClient), sweepEnvironment()) },
    );
    expect(sweep.teardowns.map((t) => t.labId)).toEqual(['stu-04']);
    expect(sweep.resets).toEqual([
      { labId: 'stu-03', generation: 2, executionName: expect.stringMatching(/^stu-03-g2-reset-/) },
    ]);
    expect(sweep.errors).toEqual([]);
    await serving.starter.idle();

    await expect(lab('stu-04')).resolves.toMatchObject({ status: 'deleted' });
    await expect(labInventory(labClients(), 'stu-04')).resolves.toEqual(EMPTY);
    const after = await lab('stu-03');
    expect(after).toMatchObject({ status: 'ready', generation: 2, report: { labId: 'stu-03', ok: true } });
    expect(after.executionName).not.toBe(before.executionName);
    // A new generation has new hosts (new run id, new client tokens).
    const ids = (view: LabView) => view.report!.nodes.map((node) => node.nodeId).sort();
    expect(ids(after)).not.toEqual(ids(before));
    // The reset kept the lab's shared references all along.
    await expect(serving.registry.locks.getShared('advanced-tier')).resolves.toMatchObject({
      holders: ['stu-03'],
    });
    await expect(tier()).resolves.toBe('advanced');
  });

  it('deleting the last lab releases the shared settings as configured (reverted) and leaves nothing of it', async () => {
    await expect(api('DELETE', '/labs/stu-03')).resolves.toMatchObject({ status: 202 });
    await serving.starter.idle();
    await expect(lab('stu-03')).resolves.toMatchObject({ status: 'deleted' });
    await expect(labInventory(labClients(), 'stu-03')).resolves.toEqual(EMPTY);
    await expect(serving.registry.locks.getShared('advanced-tier')).resolves.toMatchObject({
      holderCount: 0,
      phase: 'idle',
    });
    await expect(tier()).resolves.toBe('standard');
    // The account had no preferences document before session-lab: the revert deletes it.
    await expect(preferencesVersions()).resolves.toBeUndefined();
    const deleted = await api('GET', '/labs?status=deleted');
    expect(deleted.body.labs).toHaveLength(4);
  });
});
