import { setImmediate as tick } from 'node:timers/promises';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  ScanCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import {
  RegistryConflict,
  SharedSettingConflict,
  currentRunIds,
  isResetTeardown,
  labRegistry,
  ledgerOf,
  requiredLabRegistry,
  stableJson,
  withoutSecrets,
} from '../../../functions/shared/registry.js';
import { inputsOf } from '../../helpers/aws-mock.js';
import {
  NOW,
  NOW_SECONDS,
  TABLE,
  conditionFailed,
  labItem,
  labRecord,
  testRegistry,
} from '../../helpers/registry.js';

const doc = mockClient(DynamoDBDocumentClient);

beforeEach(() => doc.reset());

describe('labs', () => {
  it('reads a lab by its key, consistently, without the key attributes', async () => {
    const lab = labRecord();
    doc.on(GetCommand).resolves({ Item: labItem(lab) });
    await expect(testRegistry().getLab('demo')).resolves.toEqual(lab);
    expect(inputsOf(doc, GetCommand)[0]).toEqual({
      TableName: TABLE,
      Key: { pk: 'lab#demo' },
      ConsistentRead: true,
    });
  });

  it('writes a new lab only where none exists, and reports a lost race as false', async () => {
    doc.on(PutCommand).resolvesOnce({}).rejectsOnce(conditionFailed());
    const registry = testRegistry();
    await expect(registry.putLab(labRecord())).resolves.toBe(true);
    await expect(registry.putLab(labRecord())).resolves.toBe(false);
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
    await testRegistry().putLab(labRecord({ generation: 2 }), deleted);
    expect(inputsOf(doc, PutCommand)[0]).toMatchObject({
      ConditionExpression: '#version = :version AND #status = :deleted',
      ExpressionAttributeValues: { ':version': 9, ':deleted': 'deleted' },
    });
  });

  it('updates optimistically: the expected version is the condition, the version is bumped, null removes', async () => {
    doc.on(UpdateCommand).resolves({ Attributes: labItem(labRecord({ status: 'failed', version: 4 })) });
    const lab = await testRegistry().updateLab('demo', 3, { status: 'failed', report: null });
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
    await expect(testRegistry().updateLab('demo', 3, { status: 'failed' })).rejects.toBeInstanceOf(
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
    const result = await testRegistry().mutateLab('demo', (lab) => {
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
    const registry = testRegistry();
    await expect(registry.mutateLab('demo', () => ({ status: 'failed' }))).rejects.toBeInstanceOf(
      RegistryConflict,
    );
    expect(doc.commandCalls(UpdateCommand)).toHaveLength(6);
    doc.resetHistory();
    await expect(registry.mutateLab('demo', () => undefined)).resolves.toMatchObject({ changed: false });
    expect(doc.commandCalls(UpdateCommand)).toHaveLength(0);
  });

  it('answers undefined for a lab that does not exist', async () => {
    doc.on(GetCommand).resolves({});
    await expect(testRegistry().mutateLab('demo', () => ({ status: 'failed' }))).resolves.toBeUndefined();
  });
});

describe('step progress', () => {
  it('sets one map entry atomically, with the step name as its own placeholder, and bumps the version', async () => {
    doc.on(UpdateCommand).resolves({ Attributes: labItem(labRecord()) });
    const step = { name: 'Create key pair', status: 'succeeded' as const, startedAt: 'a', endedAt: 'b' };
    await testRegistry().recordStep('demo', step, { ledger: { keyName: 'MyKeyPair-demo' } });
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
    await expect(testRegistry().recordStep('demo', step, { runIds: ['r1', 'r0'] })).resolves.toBeUndefined();
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
    const page = await testRegistry().listLabs({ status: 'ready' }, { limit: 2 });
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
    const due = await testRegistry().dueLabs(NOW);
    expect(due.map((l) => l.labId)).toEqual(['one', 'two']);
    const [scan] = inputsOf(doc, ScanCommand);
    expect(scan!.FilterExpression).toContain('#expiresAt <= ');
    expect(scan!.FilterExpression).toContain('#resetAt <= ');
    expect(Object.values(scan!.ExpressionAttributeValues!)).toEqual(
      expect.arrayContaining(['lab', 'ready', 'failed', NOW_SECONDS, true]),
    );
  });
});

/**
 * A stand-in for DynamoDB's per-item atomicity on the singleton items: each UpdateCommand is
 * evaluated against the current state in one step, and every call yields first, so concurrent
 * acquisitions and releases interleave between their requests as they do against the service.
 */
function sharedTable() {
  const items = new Map<
    string,
    Record<string, unknown> & { holders?: Set<string>; holderCount: number; phase: string }
  >();
  const update = async (input: UpdateCommandInput) => {
    await tick();
    const key = String(input.Key!.pk).replace(/^shared#/, '');
    const values = Object.values(input.ExpressionAttributeValues ?? {});
    const lab =
      values
        .find((v): v is Set<string> => v instanceof Set)
        ?.values()
        .next().value ?? values.find((v) => typeof v === 'string' && /^[a-z]\d[a-z]$/.test(v));
    const item = items.get(key);
    const expression = input.UpdateExpression!;
    const holds = !!item?.holders?.has(lab as string);
    if (expression.includes('if_not_exists(#version')) {
      if (item && !(item.holderCount === 0 && item.phase !== 'reverting')) throw conditionFailed();
      const next = {
        ...item,
        key,
        holders: new Set([lab as string]),
        holderCount: 1,
        phase: 'held',
        firstHolder: lab,
      };
      items.set(key, next);
      return { Attributes: next };
    }
    if (expression.startsWith('ADD')) {
      if (!item || item.holderCount < 1 || holds) throw conditionFailed();
      item.holders!.add(lab as string);
      item.holderCount++;
      return { Attributes: item };
    }
    if (expression.includes('REMOVE #holders')) {
      if (!holds || item!.holderCount !== 1) throw conditionFailed();
      Object.assign(item!, {
        holders: undefined,
        holderCount: 0,
        lastReleasedBy: lab,
        phase: values.includes('revert-pending') ? 'revert-pending' : 'idle',
      });
      return { Attributes: item };
    }
    if (expression.startsWith('DELETE')) {
      if (!holds || item!.holderCount <= 1) throw conditionFailed();
      item!.holders!.delete(lab as string);
      item!.holderCount--;
      return { Attributes: item };
    }
    throw new Error(`unexpected update ${expression}`);
  };
  doc.on(UpdateCommand).callsFake(update);
  doc.on(GetCommand).callsFake(async (input: { Key: { pk: string } }) => {
    await tick();
    const item = items.get(input.Key.pk.replace(/^shared#/, ''));
    return { Item: item ? { pk: input.Key.pk, kind: 'shared', ...item } : undefined };
  });
  return items;
}

describe('singleton reference counts', () => {
  const labs = ['a1a', 'b2b', 'c3c'];

  it('makes exactly one of three concurrent provisions the first holder, and the others join', async () => {
    const items = sharedTable();
    const registry = testRegistry();
    const results = await Promise.all(labs.map((lab) => registry.acquireShared('advanced-tier', lab)));
    expect(results.filter((r) => r.firstHolder)).toHaveLength(1);
    expect(items.get('advanced-tier')).toMatchObject({ holderCount: 3, holders: new Set(labs) });
    // Acquiring again is harmless and gives the same answer.
    const again = await Promise.all(labs.map((lab) => registry.acquireShared('advanced-tier', lab)));
    expect(again.map((r) => r.firstHolder)).toEqual(results.map((r) => r.firstHolder));
    expect(items.get('advanced-tier')!.holderCount).toBe(3);
  });

  it('tells exactly one of three concurrent releases that it was the last holder', async () => {
    const items = sharedTable();
    const registry = testRegistry();
    await Promise.all(labs.map((lab) => registry.acquireShared('advanced-tier', lab)));
    const releases = await Promise.all(
      labs.map((lab) => registry.releaseShared('advanced-tier', lab, { revertOnLast: true })),
    );
    expect(releases.filter((r) => r.lastHolder)).toHaveLength(1);
    expect(releases.every((r) => r.released)).toBe(true);
    expect(items.get('advanced-tier')).toMatchObject({ holderCount: 0, phase: 'revert-pending' });
    // Releasing again changes nothing and repeats the answer.
    const last = releases.find((r) => r.lastHolder)!;
    const lastLab = labs[releases.indexOf(last)]!;
    await expect(registry.releaseShared('advanced-tier', lastLab, { revertOnLast: true })).resolves.toEqual({
      key: 'advanced-tier',
      released: false,
      lastHolder: true,
    });
  });

  it('tries to join first; on a free singleton sends the first-holder write with the snapshot kept from an earlier cycle and the config hash', async () => {
    doc
      .on(UpdateCommand)
      .rejectsOnce(conditionFailed())
      .resolves({ Attributes: { pk: 'shared#session-preferences', holderCount: 1 } });
    let snapshotReads = 0;
    await testRegistry().acquireShared('session-preferences', 'a1a', {
      snapshot: async () => {
        snapshotReads += 1;
        return { exists: false };
      },
      config: { logGroupName: 'SSM-Logs', cloudWatchStreaming: true },
    });
    const [join, first] = inputsOf(doc, UpdateCommand);
    expect(join!.UpdateExpression).toMatch(/^ADD #holders/);
    expect(snapshotReads).toBe(1);
    expect(first!.UpdateExpression).toMatch(/#previous = if_not_exists\(#previous, :v\d+\)/);
    expect(first!.ConditionExpression).toMatch(
      /^attribute_not_exists\(#pk\) OR \(#holderCount = :v\d+ AND #phase <> :v\d+\)$/,
    );
    expect(Object.values(first!.ExpressionAttributeValues!)).toEqual(
      expect.arrayContaining([
        { exists: false },
        '{"cloudWatchStreaming":true,"logGroupName":"SSM-Logs"}',
        'reverting',
      ]),
    );
  });

  it('refuses a lab whose preferences differ from the holders’, naming the field', async () => {
    doc.on(UpdateCommand).rejects(conditionFailed());
    doc.on(GetCommand).resolves({
      Item: {
        pk: 'shared#session-preferences',
        holders: new Set(['a1a']),
        holderCount: 1,
        phase: 'held',
        config: { logGroupName: 'SSM-Logs' },
        configHash: '{"logGroupName":"SSM-Logs"}',
      },
    });
    const acquiring = testRegistry().acquireShared('session-preferences', 'b2b', {
      config: { logGroupName: 'Other' },
    });
    await expect(acquiring).rejects.toBeInstanceOf(SharedSettingConflict);
    await expect(acquiring).rejects.toMatchObject({
      field: 'logGroupName',
      message: /^logGroupName: /,
      key: 'session-preferences',
    });
  });

  it('makes a provision wait (NotReadyYet) while the last holder reverts the setting', async () => {
    doc.on(UpdateCommand).rejects(conditionFailed());
    doc.on(GetCommand).resolves({
      Item: { pk: 'shared#advanced-tier', holderCount: 0, phase: 'reverting', lastReleasedBy: 'a1a' },
    });
    await expect(testRegistry().acquireShared('advanced-tier', 'b2b')).rejects.toMatchObject({
      name: 'NotReadyYet',
      message: /reverted after a1a/,
    });
  });

  it('claims a revert only while nobody holds the singleton, and ends it by forgetting the snapshot', async () => {
    doc
      .on(UpdateCommand)
      .rejectsOnce(conditionFailed())
      .resolves({ Attributes: { pk: 'shared#advanced-tier', holderCount: 0 } });
    const registry = testRegistry();
    await expect(registry.claimRevert('advanced-tier', 'a1a')).resolves.toBeUndefined();
    await expect(registry.finishRevert('advanced-tier', 'a1a')).resolves.toBe(true);
    const [claim, finish] = inputsOf(doc, UpdateCommand);
    expect(claim!.ConditionExpression).toMatch(
      /^#holderCount = :v\d+ AND #lastReleasedBy = :v\d+ AND #phase IN \(:v\d+, :v\d+\)$/,
    );
    expect(finish!.UpdateExpression).toMatch(/REMOVE #previous$/);
  });

  it('finds what a lab holds, or released last and has not reverted yet', async () => {
    doc.on(ScanCommand).resolves({
      Items: [
        {
          pk: 'shared#shared-roles',
          kind: 'shared',
          key: 'shared-roles',
          holders: new Set(['a1a']),
          holderCount: 1,
        },
      ],
    });
    const held = await testRegistry().sharedHeldBy('a1a');
    expect(held).toEqual([expect.objectContaining({ key: 'shared-roles', holders: ['a1a'] })]);
    expect(inputsOf(doc, ScanCommand)[0]!.FilterExpression).toMatch(
      /contains\(#holders, :v\d+\) OR \(#lastReleasedBy = /,
    );
  });
});

describe('helpers', () => {
  it('drops secret-named fields and private keys, keeps names and ARNs', () => {
    expect(
      withoutSecrets({
        user: { userName: 'u', passwordSecretArn: 'arn:x', password: 'hunter2' },
        nodes: [{ nodeId: 'mi-1', activationCode: 'c0de' }],
        note: '-----BEGIN RSA PRIVATE KEY-----\nabc',
      }),
    ).toEqual({
      user: { userName: 'u', passwordSecretArn: 'arn:x' },
      nodes: [{ nodeId: 'mi-1' }],
      note: '[removed]',
    });
  });

  it('collects the ids, names and ARNs of an output as the ledger', () => {
    expect(
      ledgerOf({
        keyName: 'MyKeyPair-demo',
        privateKeyParameter: '/session-lab/demo/key-pair/private-key',
        network: { vpcId: 'vpc-1', cidr: '10.0.0.0/16' },
        instances: [{ instanceId: 'i-1', role: 'Dev' }],
        ready: true,
      }),
    ).toEqual({
      keyName: 'MyKeyPair-demo',
      privateKeyParameter: '/session-lab/demo/key-pair/private-key',
      'network.vpcId': 'vpc-1',
      'instances.0.instanceId': 'i-1',
    });
  });

  it('serialises configs the same whatever their key order', () => {
    expect(stableJson({ b: 1, a: [{ d: 2, c: undefined }] })).toBe(stableJson({ a: [{ d: 2 }], b: 1 }));
  });

  it('knows a reset’s own runs', () => {
    const reset = labRecord({ workflow: 'reset-lab', executionName: 'r' });
    expect(currentRunIds(reset)).toEqual(['r', 'r-teardown', 'r-provision']);
    expect(isResetTeardown(reset, 'r-teardown')).toBe(true);
    expect(isResetTeardown(labRecord({ executionName: 'r' }), 'r-teardown')).toBe(false);
  });

  it('reads REGISTRY_TABLE: none is no registry, a malformed name fails naming the variable', () => {
    const region = process.env.AWS_REGION;
    process.env.AWS_REGION = 'us-east-1';
    try {
      expect(labRegistry({})).toBeUndefined();
      expect(labRegistry({ REGISTRY_TABLE: 'labs' })?.tableName).toBe('labs');
    } finally {
      if (region === undefined) delete process.env.AWS_REGION;
      else process.env.AWS_REGION = region;
    }
    expect(() => labRegistry({ REGISTRY_TABLE: 'bad name!' })).toThrow(/^REGISTRY_TABLE: /);
    expect(() => requiredLabRegistry({})).toThrow(/REGISTRY_TABLE/);
  });
});
