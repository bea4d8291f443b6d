import { setImmediate as tick } from 'node:timers/promises';
import {
  DynamoDBDocumentClient,
  GetCommand,
  ScanCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { SharedSettingConflict } from '../../../../functions/shared/errors.js';
import { stableJson } from '../../../../functions/shared/registry/shared-locks.js';
import { inputsOf } from '../../../helpers/aws-mock.js';
import { conditionFailed, testRegistry } from '../../../helpers/registry.js';

const doc = mockClient(DynamoDBDocumentClient);

beforeEach(() => doc.reset());

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
    const locks = testRegistry().locks;
    const results = await Promise.all(labs.map((lab) => locks.acquireShared('advanced-tier', lab)));
    expect(results.filter((r) => r.firstHolder)).toHaveLength(1);
    expect(items.get('advanced-tier')).toMatchObject({ holderCount: 3, holders: new Set(labs) });
    // Acquiring again is harmless and gives the same answer.
    const again = await Promise.all(labs.map((lab) => locks.acquireShared('advanced-tier', lab)));
    expect(again.map((r) => r.firstHolder)).toEqual(results.map((r) => r.firstHolder));
    expect(items.get('advanced-tier')!.holderCount).toBe(3);
  });

  it('tells exactly one of three concurrent releases that it was the last holder', async () => {
    const items = sharedTable();
    const locks = testRegistry().locks;
    await Promise.all(labs.map((lab) => locks.acquireShared('advanced-tier', lab)));
    const releases = await Promise.all(
      labs.map((lab) => locks.releaseShared('advanced-tier', lab, { revertOnLast: true })),
    );
    expect(releases.filter((r) => r.lastHolder)).toHaveLength(1);
    expect(releases.every((r) => r.released)).toBe(true);
    expect(items.get('advanced-tier')).toMatchObject({ holderCount: 0, phase: 'revert-pending' });
    // Releasing again changes nothing and repeats the answer.
    const last = releases.find((r) => r.lastHolder)!;
    const lastLab = labs[releases.indexOf(last)]!;
    await expect(locks.releaseShared('advanced-tier', lastLab, { revertOnLast: true })).resolves.toEqual({
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
    await testRegistry().locks.acquireShared('session-preferences', 'a1a', {
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
    const acquiring = testRegistry().locks.acquireShared('session-preferences', 'b2b', {
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
    await expect(testRegistry().locks.acquireShared('advanced-tier', 'b2b')).rejects.toMatchObject({
      name: 'NotReadyYet',
      message: /reverted after a1a/,
    });
  });

  it('claims a revert only while nobody holds the singleton, and ends it by forgetting the snapshot', async () => {
    doc
      .on(UpdateCommand)
      .rejectsOnce(conditionFailed())
      .resolves({ Attributes: { pk: 'shared#advanced-tier', holderCount: 0 } });
    const locks = testRegistry().locks;
    await expect(locks.claimRevert('advanced-tier', 'a1a')).resolves.toBeUndefined();
    await expect(locks.finishRevert('advanced-tier', 'a1a')).resolves.toBe(true);
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
    const held = await testRegistry().locks.sharedHeldBy('a1a');
    expect(held).toEqual([expect.objectContaining({ key: 'shared-roles', holders: ['a1a'] })]);
    expect(inputsOf(doc, ScanCommand)[0]!.FilterExpression).toMatch(
      /contains\(#holders, :v\d+\) OR \(#lastReleasedBy = /,
    );
  });
});

describe('configs', () => {
  it('serialises configs the same whatever their key order', () => {
    expect(stableJson({ b: 1, a: [{ d: 2, c: undefined }] })).toBe(stableJson({ a: [{ d: 2 }], b: 1 }));
  });
});
