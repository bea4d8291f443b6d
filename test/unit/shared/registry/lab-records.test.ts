import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { RegistryConflict } from '../../../../functions/shared/errors.js';
import { currentRunIds, isResetTeardown } from '../../../../functions/shared/registry/lab-record.js';
import { inputsOf } from '../../../helpers/aws-mock.js';
import {
  NOW,
  NOW_SECONDS,
  TABLE,
  conditionFailed,
  labItem,
  labRecord,
  testRegistry,
} from '../../../helpers/registry.js';

const doc = mockClient(DynamoDBDocumentClient);

beforeEach(() => doc.reset());

describe('labs', () => {
  it('reads a lab by its key, consistently, without the key attributes', async () => {
    const lab = labRecord();
    doc.on(GetCommand).resolves({ Item: labItem(lab) });
    await expect(testRegistry().labs.getLab('demo')).resolves.toEqual(lab);
    expect(inputsOf(doc, GetCommand)[0]).toEqual({
      TableName: TABLE,
      Key: { pk: 'lab#demo' },
      ConsistentRead: true,
    });
  });

  it('writes a new lab only where none exists, and reports a lost race as false', async () => {
    doc.on(PutCommand).resolvesOnce({}).rejectsOnce(conditionFailed());
    const records = testRegistry().labs;
    await expect(records.putLab(labRecord())).resolves.toBe(true);
    await expect(records.putLab(labRecord())).resolves.toBe(false);
    const [put] = inputsOf(doc, PutCommand);
    expect(put).toMatchObject({
      Item: { pk: 'lab#demo', kind: 'lab', labId: 'demo' },
      ConditionExpression: 'attribute_not_exists(#pk)',
      ExpressionAttributeNames: { '#pk': 'pk' },
    });
  });

  it('replaces a deleted lab only at the version it was read at', async () => {
    doc.on(PutCommand).resolves({});
    const deleted = labRecord({ status: 'deleted', version: 9 });
    await testRegistry().labs.putLab(labRecord({ generation: 2 }), deleted);
    expect(inputsOf(doc, PutCommand)[0]).toMatchObject({
      ConditionExpression: '#version = :version AND #status = :deleted',
      ExpressionAttributeValues: { ':version': 9, ':deleted': 'deleted' },
    });
  });

  it('updates optimistically: the expected version is the condition, the version is bumped, null removes', async () => {
    doc.on(UpdateCommand).resolves({ Attributes: labItem(labRecord({ status: 'failed', version: 4 })) });
    const lab = await testRegistry().labs.updateLab('demo', 3, { status: 'failed', report: null });
    expect(lab).toMatchObject({ status: 'failed', version: 4 });
    const [update] = inputsOf(doc, UpdateCommand);
    const names = update!.ExpressionAttributeNames!;
    const values = update!.ExpressionAttributeValues!;
    expect(update!.UpdateExpression).toMatch(
      /^SET #status = :v\d+, #updatedAt = :v\d+, #version = #version \+ :v\d+ REMOVE #report$/,
    );
    expect(update!.ConditionExpression).toMatch(/^#version = :v\d+$/);
    expect(names).toMatchObject({ '#status': 'status', '#report': 'report', '#version': 'version' });
    expect(Object.values(values)).toEqual(expect.arrayContaining(['failed', NOW.toISOString(), 1, 3]));
  });

  it('turns a failed version condition into RegistryConflict', async () => {
    doc.on(UpdateCommand).rejects(conditionFailed());
    await expect(testRegistry().labs.updateLab('demo', 3, { status: 'failed' })).rejects.toBeInstanceOf(
      RegistryConflict,
    );
  });

  it('loses no update under contention: a conflicting write is re-decided on the record as it now is', async () => {
    doc
      .on(GetCommand)
      .resolvesOnce({ Item: labItem(labRecord({ version: 3, generation: 1 })) })
      .resolves({ Item: labItem(labRecord({ version: 4, generation: 2 })) });
    doc
      .on(UpdateCommand)
      .rejectsOnce(conditionFailed())
      .resolves({ Attributes: labItem(labRecord({ version: 5, generation: 3 })) });
    const seen: number[] = [];
    const result = await testRegistry().labs.mutateLab('demo', (lab) => {
      seen.push(lab.generation);
      return { generation: lab.generation + 1 };
    });
    expect(seen).toEqual([1, 2]);
    expect(result).toMatchObject({ changed: true, lab: { generation: 3 } });
    const [first, second] = inputsOf(doc, UpdateCommand);
    expect(Object.values(first!.ExpressionAttributeValues!)).toEqual(expect.arrayContaining([2, 3]));
    expect(Object.values(second!.ExpressionAttributeValues!)).toEqual(expect.arrayContaining([3, 4]));
  });

  it('gives up with RegistryConflict after six lost races, and leaves a lab alone when nothing changes', async () => {
    doc.on(GetCommand).resolves({ Item: labItem(labRecord()) });
    doc.on(UpdateCommand).rejects(conditionFailed());
    const records = testRegistry().labs;
    await expect(records.mutateLab('demo', () => ({ status: 'failed' }))).rejects.toBeInstanceOf(
      RegistryConflict,
    );
    expect(doc.commandCalls(UpdateCommand)).toHaveLength(6);
    doc.resetHistory();
    await expect(records.mutateLab('demo', () => undefined)).resolves.toMatchObject({ changed: false });
    expect(doc.commandCalls(UpdateCommand)).toHaveLength(0);
  });

  it('answers undefined for a lab that does not exist', async () => {
    doc.on(GetCommand).resolves({});
    await expect(
      testRegistry().labs.mutateLab('demo', () => ({ status: 'failed' })),
    ).resolves.toBeUndefined();
  });
});

describe('step progress', () => {
  it('sets one map entry atomically, with the step name as its own placeholder, and bumps the version', async () => {
    doc.on(UpdateCommand).resolves({ Attributes: labItem(labRecord()) });
    const step = { name: 'Create key pair', status: 'succeeded' as const, startedAt: 'a', endedAt: 'b' };
    await testRegistry().labs.recordStep('demo', step, { ledger: { keyName: 'MyKeyPair-demo' } });
    const [update] = inputsOf(doc, UpdateCommand);
    expect(update!.UpdateExpression).toMatch(
      /^SET #steps\.#p\d+ = :v\d+, #currentStep = :v\d+, #updatedAt = :v\d+, #ledger\.#p\d+ = :v\d+ ADD #version :v\d+$/,
    );
    expect(Object.values(update!.ExpressionAttributeNames!)).toEqual(
      expect.arrayContaining(['steps', 'Create key pair', 'ledger', 'currentStep']),
    );
    expect(Object.values(update!.ExpressionAttributeValues!)).toEqual(
      expect.arrayContaining([step, { keyName: 'MyKeyPair-demo' }]),
    );
    expect(update!.ConditionExpression).toBe('attribute_exists(#pk)');
  });

  it("writes only while the run is the lab's current one, and answers undefined when it is not", async () => {
    doc.on(UpdateCommand).rejects(conditionFailed());
    const step = { name: 'Launch instances', status: 'running' as const, startedAt: 'a' };
    await expect(
      testRegistry().labs.recordStep('demo', step, { runIds: ['r1', 'r0'] }),
    ).resolves.toBeUndefined();
    const [update] = inputsOf(doc, UpdateCommand);
    expect(update!.ConditionExpression).toMatch(
      /^attribute_exists\(#pk\) AND #executionName IN \(:v\d+, :v\d+\)$/,
    );
  });
});

describe('listing and the schedule', () => {
  it('pages labs without overflowing: Limit asks only for what is missing', async () => {
    doc
      .on(ScanCommand)
      .resolvesOnce({
        Items: [labItem(labRecord({ labId: 'b-lab' }))],
        LastEvaluatedKey: { pk: 'lab#b-lab' },
      })
      .resolvesOnce({
        Items: [labItem(labRecord({ labId: 'a-lab' }))],
        LastEvaluatedKey: { pk: 'lab#a-lab' },
      });
    const page = await testRegistry().labs.listLabs({ status: 'ready' }, { limit: 2 });
    expect(page.labs.map((l) => l.labId)).toEqual(['a-lab', 'b-lab']);
    expect(page.nextKey).toEqual({ pk: 'lab#a-lab' });
    const scans = inputsOf(doc, ScanCommand);
    expect(scans.map((s) => s.Limit)).toEqual([2, 1]);
    expect(scans[1]!.ExclusiveStartKey).toEqual({ pk: 'lab#b-lab' });
    expect(scans[0]!.FilterExpression).toMatch(/^#kind = :v\d+ AND #status = :v\d+$/);
  });

  it('finds due labs across pages: ready/failed and expired, or nightly and past their reset time', async () => {
    doc
      .on(ScanCommand)
      .resolvesOnce({ Items: [labItem(labRecord({ labId: 'one' }))], LastEvaluatedKey: { pk: 'lab#one' } })
      .resolvesOnce({ Items: [labItem(labRecord({ labId: 'two' }))] });
    const due = await testRegistry().labs.dueLabs(NOW);
    expect(due.map((l) => l.labId)).toEqual(['one', 'two']);
    const [scan] = inputsOf(doc, ScanCommand);
    expect(scan!.FilterExpression).toContain('#expiresAt <= ');
    expect(scan!.FilterExpression).toContain('#resetAt <= ');
    expect(Object.values(scan!.ExpressionAttributeValues!)).toEqual(
      expect.arrayContaining(['lab', 'ready', 'failed', NOW_SECONDS, true]),
    );
  });
});

describe('current runs', () => {
  it('knows a reset’s own runs', () => {
    const reset = labRecord({ workflow: 'reset-lab', executionName: 'r' });
    expect(currentRunIds(reset)).toEqual(['r', 'r-teardown', 'r-provision']);
    expect(isResetTeardown(reset, 'r-teardown')).toBe(true);
    expect(isResetTeardown(labRecord({ executionName: 'r' }), 'r-teardown')).toBe(false);
  });
});
