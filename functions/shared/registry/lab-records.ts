import { PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { RegistryConflict, isErrorNamed } from '../errors.js';
import type { LabChanges, LabRecord, LabStatus, LabStep } from './lab-record.js';
import {
  CONDITION_FAILED,
  Expression,
  OPTIMISTIC_ATTEMPTS,
  REGISTRY_KEY,
  epochSeconds,
  getItem,
  itemKey,
  nowIso,
  scanAll,
  updateIf,
  type RegistryTable,
  type StoredItem,
} from './table.js';

/**
 * The labs in the registry table (`lab#<labId>` items): reads, writes and scans. Whole-record
 * changes are optimistic on `version`; a step's progress updates its own map entry atomically, so
 * parallel branches never overwrite each other.
 */

export interface ListLabsFilter {
  status?: LabStatus;
  owner?: string;
  classId?: string;
}

export interface LabPage {
  labs: LabRecord[];
  /** The key to continue from, or undefined on the last page. */
  nextKey?: Record<string, unknown>;
}

const labKey = (labId: string) => itemKey('lab', labId);

function toLab(item: StoredItem | undefined): LabRecord | undefined {
  if (!item) return undefined;
  const { [REGISTRY_KEY]: _pk, kind: _kind, ...lab } = item;
  return lab as unknown as LabRecord;
}

/** Reads and writes the labs of the registry table. */
export class LabRecords {
  constructor(readonly table: RegistryTable) {}

  async getLab(labId: string): Promise<LabRecord | undefined> {
    return toLab(await getItem(this.table, labKey(labId)));
  }

  /**
   * Writes a new lab. Refused (false) when a record exists, unless `replacing` is the current
   * record of a deleted lab at the same version: a lab id can be used again once it is deleted.
   */
  async putLab(lab: LabRecord, replacing?: LabRecord): Promise<boolean> {
    const condition = replacing
      ? { ConditionExpression: '#version = :version AND #status = :deleted' }
      : { ConditionExpression: 'attribute_not_exists(#pk)' };
    try {
      await this.table.doc.send(
        new PutCommand({
          TableName: this.table.name,
          Item: { ...labKey(lab.labId), kind: 'lab', ...lab },
          ...condition,
          ExpressionAttributeNames: replacing
            ? { '#version': 'version', '#status': 'status' }
            : { '#pk': REGISTRY_KEY },
          ...(replacing
            ? { ExpressionAttributeValues: { ':version': replacing.version, ':deleted': 'deleted' } }
            : {}),
        }),
      );
      return true;
    } catch (err) {
      if (isErrorNamed(err, CONDITION_FAILED)) return false;
      throw err;
    }
  }

  /**
   * Applies `changes` only if the record is still at `expectedVersion`, bumping the version.
   * Throws RegistryConflict when another writer got there first (or the lab is gone).
   */
  async updateLab(labId: string, expectedVersion: number, changes: LabChanges): Promise<LabRecord> {
    const expr = new Expression();
    const set: string[] = [];
    const remove: string[] = [];
    for (const [field, value] of Object.entries(changes)) {
      if (value === undefined) continue;
      if (value === null) remove.push(expr.name(field));
      else set.push(`${expr.name(field)} = ${expr.value(value)}`);
    }
    set.push(`${expr.name('updatedAt')} = ${expr.value(nowIso(this.table.clock()))}`);
    const version = expr.name('version');
    set.push(`${version} = ${version} + ${expr.value(1)}`);
    const updated = await updateIf(
      this.table,
      labKey(labId),
      `SET ${set.join(', ')}${remove.length ? ` REMOVE ${remove.join(', ')}` : ''}`,
      `${version} = ${expr.value(expectedVersion)}`,
      expr,
    );
    if (!updated) throw new RegistryConflict(`lab ${labId} changed since version ${expectedVersion}`);
    return toLab(updated)!;
  }

  /**
   * Read-modify-write with optimistic retries: `decide` sees the current record and returns the
   * changes to make (or undefined to leave it as it is). Returns the record as it ends up, or
   * undefined when the lab does not exist.
   */
  async mutateLab(
    labId: string,
    decide: (lab: LabRecord) => LabChanges | undefined,
  ): Promise<{ lab: LabRecord; changed: boolean } | undefined> {
    for (let attempt = 1; ; attempt++) {
      const lab = await this.getLab(labId);
      if (!lab) return undefined;
      const changes = decide(lab);
      if (!changes) return { lab, changed: false };
      try {
        return { lab: await this.updateLab(labId, lab.version, changes), changed: true };
      } catch (err) {
        if (!(err instanceof RegistryConflict) || attempt >= OPTIMISTIC_ATTEMPTS) throw err;
      }
    }
  }

  /**
   * Records one step's state as one map entry, atomically: parallel branches updating different
   * steps never overwrite each other. Only for a registered lab (and, when `runIds` is given, only
   * while one of them is the lab's current execution); returns undefined when it does not apply.
   */
  async recordStep(
    labId: string,
    step: LabStep,
    options: { ledger?: Record<string, string>; runIds?: string[] } = {},
  ): Promise<LabRecord | undefined> {
    const expr = new Expression();
    const set = [
      `${expr.path('steps', step.name)} = ${expr.value(step)}`,
      `${expr.name('currentStep')} = ${expr.value(step.name)}`,
      `${expr.name('updatedAt')} = ${expr.value(nowIso(this.table.clock()))}`,
    ];
    if (options.ledger && Object.keys(options.ledger).length)
      set.push(`${expr.path('ledger', step.name)} = ${expr.value(options.ledger)}`);
    const conditions = [`attribute_exists(${expr.name(REGISTRY_KEY)})`];
    if (options.runIds?.length)
      conditions.push(
        `${expr.name('executionName')} IN (${options.runIds.map((id) => expr.value(id)).join(', ')})`,
      );
    const updated = await updateIf(
      this.table,
      labKey(labId),
      `SET ${set.join(', ')} ADD ${expr.name('version')} ${expr.value(1)}`,
      conditions.join(' AND '),
      expr,
    );
    return toLab(updated);
  }

  /**
   * One page of labs, at most `limit`, optionally filtered. A Scan with a filter: the registry
   * holds hundreds of labs, not millions, and the API pages through it with `nextKey`.
   */
  async listLabs(
    filter: ListLabsFilter = {},
    page: { limit?: number; startKey?: Record<string, unknown> } = {},
  ): Promise<LabPage> {
    const limit = page.limit ?? 50;
    const expr = new Expression();
    const conditions = [`${expr.name('kind')} = ${expr.value('lab')}`];
    for (const field of ['status', 'owner', 'classId'] as const) {
      if (filter[field] !== undefined) conditions.push(`${expr.name(field)} = ${expr.value(filter[field])}`);
    }
    const labs: LabRecord[] = [];
    let startKey = page.startKey;
    // Limit counts items read before the filter, so ask for what is still missing: the page never
    // overflows and LastEvaluatedKey is exactly where the next page starts.
    for (let round = 0; round < 20 && labs.length < limit; round++) {
      const result = await this.table.doc.send(
        new ScanCommand({
          TableName: this.table.name,
          FilterExpression: conditions.join(' AND '),
          ...expr.input(),
          Limit: limit - labs.length,
          ExclusiveStartKey: startKey,
        }),
      );
      labs.push(...(result.Items ?? []).map((item) => toLab(item)!));
      startKey = result.LastEvaluatedKey;
      if (!startKey) break;
    }
    labs.sort((a, b) => a.labId.localeCompare(b.labId));
    return { labs, nextKey: startKey };
  }

  /**
   * The labs the account holds (every status but deleted), id and class only: what the API's caps
   * count. A Scan of the whole registry, a few hundred items.
   */
  async activeLabs(): Promise<Pick<LabRecord, 'labId' | 'classId'>[]> {
    const expr = new Expression();
    const items = await scanAll(this.table, {
      FilterExpression: `${expr.name('kind')} = ${expr.value('lab')} AND ${expr.name('status')} <> ${expr.value('deleted')}`,
      ProjectionExpression: `${expr.name('labId')}, ${expr.name('classId')}`,
      ...expr.input(),
    });
    return items.map((item) => ({
      labId: String(item.labId),
      ...(item.classId !== undefined ? { classId: String(item.classId) } : {}),
    }));
  }

  /**
   * Labs the schedule must act on at `now`: ready or failed labs whose expiry has passed (to tear
   * down) or whose nightly reset is due. Labs in the middle of a workflow are left to finish it.
   */
  async dueLabs(now: Date): Promise<LabRecord[]> {
    const expr = new Expression();
    const status = expr.name('status');
    const at = expr.value(epochSeconds(now));
    const filter =
      `${expr.name('kind')} = ${expr.value('lab')} AND ${status} IN (${expr.value('ready')}, ${expr.value('failed')})` +
      ` AND (${expr.name('expiresAt')} <= ${at} OR (${expr.name('nightlyReset')} = ${expr.value(true)}` +
      ` AND ${expr.name('resetAt')} <= ${at}))`;
    const items = await scanAll(this.table, { FilterExpression: filter, ...expr.input() });
    return items.map((item) => toLab(item)!);
  }
}
