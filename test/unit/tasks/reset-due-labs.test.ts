import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { resetDueLabs, teardownPurgedLabs } from '../../../functions/reset-due-labs/task.js';
import { RESET_GUARD_SECONDS } from '../../../functions/shared/lab-lifecycle.js';
import type { LabRecord } from '../../../functions/shared/registry/lab-record.js';
import { inputsOf } from '../../helpers/aws-mock.js';
import {
  NOW,
  NOW_SECONDS,
  RecordingStarter,
  labItem,
  labRecord,
  testRegistry,
} from '../../helpers/registry.js';

const doc = mockClient(DynamoDBDocumentClient);

/** The registry holds `labs`; every optimistic update succeeds and returns the merged record. */
function registryOf(labs: LabRecord[]) {
  const byId = new Map(labs.map((lab) => [lab.labId, lab]));
  doc.on(ScanCommand).resolves({ Items: labs.map(labItem) });
  doc.on(GetCommand).callsFake(async (input: { Key: { pk: string } }) => {
    const lab = byId.get(input.Key.pk.replace(/^lab#/, ''));
    return { Item: lab ? labItem(lab) : undefined };
  });
  doc.on(UpdateCommand).callsFake(async (input) => {
    const labId = String(input.Key.pk).replace(/^lab#/, '');
    const names = input.ExpressionAttributeNames as Record<string, string>;
    const values = input.ExpressionAttributeValues as Record<string, unknown>;
    const lab = { ...byId.get(labId)! } as Record<string, unknown>;
    const [set] = String(input.UpdateExpression).replace(/^SET /, '').split(' REMOVE ');
    for (const clause of set!.split(', ')) {
      const [name, value] = clause.split(' = ');
      if (value!.startsWith(':')) lab[names[name!]!] = values[value!];
    }
    byId.set(labId, lab as unknown as LabRecord);
    return { Attributes: labItem(lab as unknown as LabRecord) };
  });
  return byId;
}

beforeEach(() => doc.reset());

describe('resetDueLabs', () => {
  it('tears down an expired lab and resets a due one to a new generation and execution name', async () => {
    const expired = labRecord({ labId: 'old-lab', expiresAt: NOW_SECONDS - 1 });
    const due = labRecord({
      labId: 'nightly',
      generation: 4,
      nightlyReset: true,
      resetAt: NOW_SECONDS - 60,
      expiresAt: NOW_SECONDS + 86400,
      options: { labId: 'nightly', policyMode: 'seed' },
    });
    const labs = registryOf([expired, due]);
    const starter = new RecordingStarter();
    const result = await resetDueLabs(
      { expire: true, reset: true },
      { registry: testRegistry(), starter, clock: () => NOW },
    );

    expect(result.teardowns).toEqual([
      {
        labId: 'old-lab',
        executionName: expect.stringMatching(/^old-lab-g1-teardown-20300101000000-[0-9a-f]{6}$/),
      },
    ]);
    expect(result.resets).toEqual([
      {
        labId: 'nightly',
        generation: 5,
        executionName: expect.stringMatching(/^nightly-g5-reset-20300101000000-[0-9a-f]{6}$/),
      },
    ]);
    expect(starter.started).toEqual(
      expect.arrayContaining([
        {
          name: 'teardown-lab',
          input: { labId: 'old-lab' },
          executionName: result.teardowns[0]!.executionName,
        },
        {
          name: 'reset-lab',
          input: { labId: 'nightly', policyMode: 'seed' },
          executionName: result.resets[0]!.executionName,
        },
      ]),
    );
    expect(labs.get('old-lab')).toMatchObject({ status: 'tearing-down', workflow: 'teardown-lab' });
    expect(labs.get('nightly')).toMatchObject({
      status: 'provisioning',
      workflow: 'reset-lab',
      generation: 5,
      steps: {},
      resetAt: NOW_SECONDS + RESET_GUARD_SECONDS,
    });
    // Each change is conditional on the version it was decided on.
    for (const update of inputsOf(doc, UpdateCommand))
      expect(update.ConditionExpression).toMatch(/^#version = /);
  });

  it('only tears down when resets are off, and skips a lab that started a workflow meanwhile', async () => {
    registryOf([
      labRecord({ labId: 'old-lab', expiresAt: NOW_SECONDS - 1 }),
      labRecord({ labId: 'nightly', nightlyReset: true, resetAt: NOW_SECONDS - 1 }),
    ]);
    doc.on(GetCommand).callsFake(async (input: { Key: { pk: string } }) => ({
      Item: labItem(labRecord({ labId: input.Key.pk.slice(4), status: 'provisioning' })),
    }));
    const starter = new RecordingStarter();
    const result = await resetDueLabs(
      { expire: true, reset: false },
      { registry: testRegistry(), starter, clock: () => NOW },
    );
    expect(result).toMatchObject({ teardowns: [], resets: [], errors: [] });
    expect(starter.started).toEqual([]);
  });

  it('goes on with the other labs when one cannot be started, and reports it', async () => {
    registryOf([
      labRecord({ labId: 'lab-a', expiresAt: NOW_SECONDS - 1 }),
      labRecord({ labId: 'lab-b', expiresAt: NOW_SECONDS - 1 }),
    ]);
    const starter = new RecordingStarter();
    let calls = 0;
    const flaky = {
      start: async (...args: Parameters<RecordingStarter['start']>) => {
        if (calls++ === 0) throw Object.assign(new Error('slow down'), { name: 'ThrottlingException' });
        return starter.start(...args);
      },
    };
    const result = await resetDueLabs(
      { expire: true, reset: true },
      { registry: testRegistry(), starter: flaky, clock: () => NOW },
    );
    expect(result.teardowns).toHaveLength(1);
    expect(result.errors).toEqual([
      { labId: expect.any(String), action: 'teardown', error: 'ThrottlingException' },
    ]);
  });

  it('sweeps for the moment it is given', async () => {
    registryOf([]);
    const result = await resetDueLabs(
      { expire: true, reset: true, now: '2031-06-01T03:00:00Z' },
      { registry: testRegistry(), starter: new RecordingStarter() },
    );
    expect(result.at).toBe('2031-06-01T03:00:00.000Z');
    expect(Object.values(inputsOf(doc, ScanCommand)[0]!.ExpressionAttributeValues!)).toContain(
      Date.parse('2031-06-01T03:00:00Z') / 1000,
    );
  });
});

describe('teardownPurgedLabs', () => {
  const removal = (labId: string, status: string, byTtl = true) => ({
    eventName: 'REMOVE',
    userIdentity: byTtl ? { type: 'Service', principalId: 'dynamodb.amazonaws.com' } : undefined,
    dynamodb: {
      OldImage: { kind: { S: 'lab' }, labId: { S: labId }, status: { S: status }, generation: { N: '3' } },
    },
  });

  it('tears down a live lab whose record TTL purged first, under a new record', async () => {
    doc.on(PutCommand).resolves({});
    const starter = new RecordingStarter();
    const result = await teardownPurgedLabs(
      {
        Records: [
          removal('gone-lab', 'ready'),
          removal('was-deleted', 'deleted'),
          removal('by-hand', 'ready', false),
        ],
      },
      { registry: testRegistry(), starter, clock: () => NOW },
    );
    expect(result.teardowns).toEqual([
      { labId: 'gone-lab', executionName: expect.stringMatching(/^gone-lab-g3-teardown-/) },
    ]);
    expect(starter.started).toEqual([
      {
        name: 'teardown-lab',
        input: { labId: 'gone-lab' },
        executionName: result.teardowns[0]!.executionName,
      },
    ]);
    expect(inputsOf(doc, PutCommand)[0]!.Item).toMatchObject({
      pk: 'lab#gone-lab',
      status: 'tearing-down',
      generation: 3,
    });
  });
});
