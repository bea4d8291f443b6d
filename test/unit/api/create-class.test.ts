import { DynamoDBDocumentClient, GetCommand, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import {
  classLabIds,
  createClassRoute,
  type ProvisionClassInput,
} from '../../../functions/api/create-class/route.js';
import { respond } from '../../../functions/shared/api.js';
import { inputsOf } from '../../helpers/aws-mock.js';
import {
  RecordingStarter,
  apiEvent,
  labItem,
  labRecord,
  PORTAL_CALLER,
  replyOf,
  testApiDeps,
  testRegistry,
} from '../../helpers/registry.js';

const doc = mockClient(DynamoDBDocumentClient);
let starter: RecordingStarter;

const post = (body: unknown, headers: Record<string, string> = {}) =>
  respond(
    createClassRoute,
    apiEvent({ method: 'POST', resource: '/classes', body, headers }),
    testApiDeps(testRegistry(), starter),
  ).then(replyOf);

beforeEach(() => {
  doc.reset();
  starter = new RecordingStarter();
  doc.on(GetCommand).resolves({});
  doc.on(PutCommand).resolves({});
  doc.on(ScanCommand).resolves({ Items: [] });
});

describe('POST /classes: caps and caller', () => {
  it('records the signed caller on every lab', async () => {
    await expect(post({ classId: 'cls', count: 2 })).resolves.toMatchObject({ status: 202 });
    expect(inputsOf(doc, PutCommand).map((put) => put.Item!.requestedBy)).toEqual([
      PORTAL_CALLER,
      PORTAL_CALLER,
    ]);
  });

  it('refuses labs past the account’s cap with 429 LabLimitExceeded; nothing is written or started', async () => {
    doc.on(ScanCommand).resolves({ Items: Array.from({ length: 7 }, (_, i) => ({ labId: `lab-${i}` })) });
    const reply = await post({ classId: 'cls', count: 2 });
    expect(reply).toMatchObject({ status: 429, body: { code: 'LabLimitExceeded' } });
    expect(String(reply.body.message)).toMatch(/MAX_LABS/);
    expect(doc.commandCalls(PutCommand)).toHaveLength(0);
    expect(starter.started).toHaveLength(0);
  });

  it('refuses labs past the cap per class with 429 ClassLimitExceeded, naming MAX_CLASS_SIZE', async () => {
    // Labs of the class recorded under other ids (an earlier release, a larger cap then).
    doc.on(ScanCommand).resolves({
      Items: ['cls-101', 'cls-102', 'cls-103', 'cls-104'].map((labId) => ({ labId, classId: 'cls' })),
    });
    const reply = await post({ classId: 'cls', count: 2 });
    expect(reply).toMatchObject({ status: 429, body: { code: 'ClassLimitExceeded' } });
    expect(String(reply.body.message)).toMatch(
      /class cls holds 4 labs; 2 more .* cap of 5 per class \(MAX_CLASS_SIZE\)/,
    );
    expect(doc.commandCalls(PutCommand)).toHaveLength(0);
  });
});

describe('POST /classes', () => {
  it('records count labs with the same options and provisions them through one provision-class execution', async () => {
    const reply = await post({
      classId: 'sec101',
      count: 3,
      options: { policyMode: 'seed' },
      nightlyReset: true,
    });
    expect(reply).toEqual({
      status: 202,
      body: {
        classId: 'sec101',
        labs: ['sec101-01', 'sec101-02', 'sec101-03'].map((labId) => ({ labId, status: 'provisioning' })),
      },
    });
    const items = inputsOf(doc, PutCommand).map((put) => put.Item!);
    expect(items.map((item) => item.status)).toEqual(['provisioning', 'provisioning', 'provisioning']);
    expect(
      items.map((item) => [
        item.labId,
        item.classId,
        item.nightlyReset,
        (item.options as { policyMode: string }).policyMode,
      ]),
    ).toEqual([
      ['sec101-01', 'sec101', true, 'seed'],
      ['sec101-02', 'sec101', true, 'seed'],
      ['sec101-03', 'sec101', true, 'seed'],
    ]);
    // One provision-class execution: its Map provisions each lab under the name recorded for it,
    // at most the deployment's class concurrency at once.
    expect(starter.started).toHaveLength(1);
    const [started] = starter.started;
    expect(started!.name).toBe('provision-class');
    expect(started!.executionName).toMatch(/^sec101-class-[0-9a-f]{16}$/);
    const input = started!.input as ProvisionClassInput;
    expect(input.classId).toBe('sec101');
    expect(input.maxConcurrency).toBe(2);
    expect(input.labs).toEqual(
      items.map((item) => ({
        labId: item.labId,
        executionName: item.executionName,
        input: expect.objectContaining({ labId: item.labId, policyMode: 'seed' }),
      })),
    );
    expect(new Set(input.labs.map((lab) => lab.executionName)).size).toBe(3);
  });

  it('asks at most as many labs at once as the class has', async () => {
    await post({ classId: 'solo', count: 1 });
    expect((starter.started[0]!.input as ProvisionClassInput).maxConcurrency).toBe(1);
  });

  it('checks every lab id before creating any: one taken is a 409 naming it', async () => {
    doc
      .on(GetCommand)
      .callsFake(async (input: { Key: { pk: string } }) =>
        input.Key.pk === 'lab#sec101-02' ? { Item: labItem(labRecord({ labId: 'sec101-02' })) } : {},
      );
    await expect(post({ classId: 'sec101', count: 3 })).resolves.toMatchObject({
      status: 409,
      body: { code: 'LabExists', message: expect.stringContaining('sec101-02') },
    });
    expect(doc.commandCalls(PutCommand)).toHaveLength(0);
    expect(starter.started).toEqual([]);
  });

  it('is idempotent by request token: a replay answers the labs created and finishes the rest', async () => {
    doc.on(GetCommand).callsFake(async (input: { Key: { pk: string } }) =>
      input.Key.pk === 'lab#sec101-01'
        ? {
            Item: labItem(
              labRecord({ labId: 'sec101-01', status: 'provisioning', clientRequestToken: 'k1:sec101-01' }),
            ),
          }
        : {},
    );
    const reply = await post({ classId: 'sec101', count: 2 }, { 'Idempotency-Key': 'k1' });
    expect(reply.status).toBe(202);
    expect(inputsOf(doc, PutCommand).map((put) => put.Item!.labId)).toEqual(['sec101-02']);
    // The lab still provisioning is started again under its recorded name (already started is harmless).
    const input = starter.started[0]!.input as ProvisionClassInput;
    expect(input.labs.map((lab) => [lab.labId, lab.executionName])).toEqual([
      ['sec101-01', labRecord({ labId: 'sec101-01' }).executionName],
      ['sec101-02', inputsOf(doc, PutCommand)[0]!.Item!.executionName],
    ]);
  });

  it('a replay of a class whose start went through starts the same execution name, and nothing for labs already ended', async () => {
    const first = await post({ classId: 'sec101', count: 2 }, { 'Idempotency-Key': 'k2' });
    expect(first.status).toBe(202);
    const recorded = new Map(inputsOf(doc, PutCommand).map((put) => [put.Item!.labId, put.Item!]));
    const stored = (status: string) => async (input: { Key: { pk: string } }) => {
      const item = recorded.get(input.Key.pk.replace('lab#', ''));
      return item ? { Item: { ...item, status } } : {};
    };
    doc.on(GetCommand).callsFake(stored('provisioning'));
    await post({ classId: 'sec101', count: 2 }, { 'Idempotency-Key': 'k2' });
    expect(starter.started).toHaveLength(2);
    expect(starter.started[1]!.executionName).toBe(starter.started[0]!.executionName);
    doc.on(GetCommand).callsFake(stored('ready'));
    await expect(post({ classId: 'sec101', count: 2 }, { 'Idempotency-Key': 'k2' })).resolves.toMatchObject({
      status: 202,
      body: { labs: [{ status: 'ready' }, { status: 'ready' }] },
    });
    expect(starter.started).toHaveLength(2);
  });

  it.each([
    [{ classId: 'sec101', count: 6 }, 'count'],
    [{ classId: 'sec101', count: 0 }, 'count'],
    [{ classId: 'Sec_101', count: 2 }, 'classId'],
    [{ classId: 'x'.repeat(29), count: 2 }, 'classId'],
    [{ classId: 'sec101', count: 2, options: { labId: 'x1x' } }, 'options.labId'],
    [{ classId: 'sec101', count: 2, options: { instanceType: 'big' } }, 'options.instanceType'],
    [{ classId: 'sec101', count: 2, size: 2 }, 'size'],
    [{ count: 2 }, 'classId'],
  ])('refuses %j with a 400 naming %s, creating nothing', async (body, field) => {
    await expect(post(body)).resolves.toMatchObject({ status: 400, body: { code: 'InvalidRequest', field } });
    expect(doc.calls()).toHaveLength(0);
    expect(starter.started).toEqual([]);
  });

  it('with allowSeedPolicyMode off, refuses seed options with a 400 naming options.policyMode, creating nothing', async () => {
    const deps = testApiDeps(testRegistry(), starter);
    deps.limits.allowSeedPolicyMode = false;
    const create = (body: unknown) =>
      respond(createClassRoute, apiEvent({ method: 'POST', resource: '/classes', body }), deps).then(replyOf);
    await expect(
      create({ classId: 'sec101', count: 2, options: { policyMode: 'seed' } }),
    ).resolves.toMatchObject({ status: 400, body: { code: 'InvalidRequest', field: 'options.policyMode' } });
    expect(doc.calls()).toHaveLength(0);
    expect(starter.started).toEqual([]);
    await expect(create({ classId: 'sec101', count: 2 })).resolves.toMatchObject({ status: 202 });
    await expect(
      post({ classId: 'sec102', count: 1, options: { policyMode: 'seed' } }),
    ).resolves.toMatchObject({ status: 202 }); // the default: allowed
  });

  it('numbers the labs wide enough for the class', () => {
    expect(classLabIds('c', 2)).toEqual(['c-01', 'c-02']);
    expect(classLabIds('c', 100).at(-1)).toBe('c-100');
  });
});
