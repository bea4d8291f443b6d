import { NotReadyYet, RegistryConflict, SharedSettingConflict } from '../errors.js';
import {
  Expression,
  OPTIMISTIC_ATTEMPTS,
  REGISTRY_KEY,
  getItem,
  itemKey,
  nowIso,
  scanAll,
  updateIf,
  type RegistryTable,
  type StoredItem,
} from './table.js';
import type { SharedAcquisition, SharedRecord, SharedRelease, SharedSnapshot } from './shared-record.js';

/**
 * The account-wide singletons' locks in the registry table (`shared#<key>` items): a reference
 * count of the labs holding each one (tier, preferences, shared roles, log group), which lab is its
 * first holder (it creates or sets the singleton), and the revert after the last release. Every
 * change is conditional on the holder set and count, so exactly one of any number of concurrent
 * acquisitions is the first holder and exactly one release the last.
 */

const sharedKey = (key: string) => itemKey('shared', key);

function toShared(item: StoredItem | undefined): SharedRecord | undefined {
  if (!item) return undefined;
  const { [REGISTRY_KEY]: _pk, kind: _kind, holders, ...rest } = item;
  const list = holders instanceof Set ? [...(holders as Set<string>)] : [];
  return { ...(rest as unknown as Omit<SharedRecord, 'holders'>), holders: list.sort() };
}

/** What acquiring a singleton answers; a record from before `heldSince` existed counts from its last change. */
function acquisition(key: string, record: SharedRecord, firstHolder: boolean): SharedAcquisition {
  return {
    key,
    firstHolder,
    holderCount: record.holderCount,
    heldSince: record.heldSince ?? record.updatedAt,
  };
}

/** Reads and writes the singletons' locks in the registry table. */
export class SharedLocks {
  constructor(readonly table: RegistryTable) {}

  async getShared(key: string): Promise<SharedRecord | undefined> {
    return toShared(await getItem(this.table, sharedKey(key)));
  }

  /** An update of the singleton's item made only if `condition` holds; undefined when it did not. */
  private async conditionalUpdate(
    key: string,
    update: string,
    condition: string,
    expr: Expression,
  ): Promise<SharedRecord | undefined> {
    return toShared(await updateIf(this.table, sharedKey(key), update, condition, expr));
  }

  /**
   * Adds `labId` to a singleton's holders. Exactly one of any number of concurrent first
   * acquisitions becomes the first holder (count 0 -> 1, recording `snapshot` as the account's
   * state before session-lab unless one is kept from an earlier cycle); the others join. Joining
   * is tried first, so `snapshot`, when it is a read, is made only while the singleton is free.
   * Idempotent: a holder acquiring again gets the same answer. Refused with NotReadyYet while a
   * revert is running, and with SharedSettingConflict when `config` differs from what the holders share.
   */
  async acquireShared(
    key: string,
    labId: string,
    options: { snapshot?: SharedSnapshot; config?: Record<string, unknown> } = {},
  ): Promise<SharedAcquisition> {
    const configHash = options.config ? stableJson(options.config) : undefined;
    let snapshot: Record<string, unknown> | undefined;
    for (let attempt = 1; attempt <= OPTIMISTIC_ATTEMPTS; attempt++) {
      const now = nowIso(this.table.clock());
      // Joining comes first: of a class started together all labs but one find the singleton held,
      // and they then never read the account's state for a snapshot (account-wide rate limits).
      {
        const expr = new Expression();
        const holders = expr.name('holders');
        const count = expr.name('holderCount');
        const version = expr.name('version');
        const conditions = [`${count} > ${expr.value(0)}`, `NOT contains(${holders}, ${expr.value(labId)})`];
        conditions.push(
          configHash
            ? `${expr.name('configHash')} = ${expr.value(configHash)}`
            : `attribute_not_exists(${expr.name('configHash')})`,
        );
        const joined = await this.conditionalUpdate(
          key,
          `ADD ${holders} ${expr.value(new Set([labId]))}, ${count} ${expr.value(1)}` +
            ` SET ${expr.name('updatedAt')} = ${expr.value(now)}, ${version} = ${version} + ${expr.value(1)}`,
          conditions.join(' AND '),
          expr,
        );
        if (joined) return acquisition(key, joined, false);
      }
      if (options.snapshot && !snapshot) {
        snapshot = typeof options.snapshot === 'function' ? await options.snapshot() : options.snapshot;
      }
      {
        const expr = new Expression();
        const set = [
          `${expr.name('kind')} = ${expr.value('shared')}`,
          `${expr.name('key')} = ${expr.value(key)}`,
          `${expr.name('holders')} = ${expr.value(new Set([labId]))}`,
          `${expr.name('holderCount')} = ${expr.value(1)}`,
          `${expr.name('phase')} = ${expr.value('held')}`,
          `${expr.name('firstHolder')} = ${expr.value(labId)}`,
          `${expr.name('heldSince')} = ${expr.value(now)}`,
          `${expr.name('updatedAt')} = ${expr.value(now)}`,
          `${expr.name('version')} = if_not_exists(${expr.name('version')}, ${expr.value(0)}) + ${expr.value(1)}`,
        ];
        const remove: string[] = [];
        if (snapshot) {
          const previous = expr.name('previous');
          set.push(`${previous} = if_not_exists(${previous}, ${expr.value(snapshot)})`);
        }
        if (options.config) {
          set.push(`${expr.name('config')} = ${expr.value(options.config)}`);
          set.push(`${expr.name('configHash')} = ${expr.value(configHash)}`);
        } else remove.push(expr.name('config'), expr.name('configHash'));
        const condition =
          `attribute_not_exists(${expr.name(REGISTRY_KEY)}) OR (${expr.name('holderCount')} = ${expr.value(0)}` +
          ` AND ${expr.name('phase')} <> ${expr.value('reverting')})`;
        const first = await this.conditionalUpdate(
          key,
          `SET ${set.join(', ')}${remove.length ? ` REMOVE ${remove.join(', ')}` : ''}`,
          condition,
          expr,
        );
        if (first) return acquisition(key, first, true);
      }
      const current = await this.getShared(key);
      if (!current) continue;
      if (current.holders.includes(labId)) return acquisition(key, current, current.firstHolder === labId);
      if (current.phase === 'reverting') {
        throw new NotReadyYet(
          `${key} is being reverted after ${current.lastReleasedBy ?? 'its last holder'} released it; retry shortly`,
        );
      }
      if (current.holderCount > 0 && current.configHash !== configHash) {
        const field = differingField(current.config, options.config);
        throw new SharedSettingConflict(
          key,
          field,
          `${field}: the account-wide ${key} is shared by ${current.holderCount} lab(s) with ` +
            `${JSON.stringify(current.config?.[field] ?? null)}; this lab asks for ` +
            `${JSON.stringify(options.config?.[field] ?? null)}`,
        );
      }
    }
    throw new RegistryConflict(`could not acquire ${key} for ${labId}: too many concurrent changes`);
  }

  /**
   * Removes `labId` from a singleton's holders. Exactly one release reports `lastHolder` (the one
   * taking the count to 0), which then moves the singleton to `revert-pending` when the
   * deployment reverts shared settings, or `idle` when it does not. Idempotent: releasing again
   * reports the same `lastHolder` without changing anything.
   */
  async releaseShared(
    key: string,
    labId: string,
    options: { revertOnLast: boolean },
  ): Promise<SharedRelease> {
    for (let attempt = 1; attempt <= OPTIMISTIC_ATTEMPTS; attempt++) {
      const now = nowIso(this.table.clock());
      {
        const expr = new Expression();
        const holders = expr.name('holders');
        const count = expr.name('holderCount');
        const version = expr.name('version');
        const last = await this.conditionalUpdate(
          key,
          `SET ${count} = ${expr.value(0)}, ${expr.name('lastReleasedBy')} = ${expr.value(labId)},` +
            ` ${expr.name('phase')} = ${expr.value(options.revertOnLast ? 'revert-pending' : 'idle')},` +
            ` ${expr.name('updatedAt')} = ${expr.value(now)}, ${version} = ${version} + ${expr.value(1)}` +
            ` REMOVE ${holders}`,
          `contains(${holders}, ${expr.value(labId)}) AND ${count} = ${expr.value(1)}`,
          expr,
        );
        if (last) return { key, released: true, lastHolder: true };
      }
      {
        const expr = new Expression();
        const holders = expr.name('holders');
        const count = expr.name('holderCount');
        const version = expr.name('version');
        const left = await this.conditionalUpdate(
          key,
          `DELETE ${holders} ${expr.value(new Set([labId]))} ADD ${count} ${expr.value(-1)}` +
            ` SET ${expr.name('updatedAt')} = ${expr.value(now)}, ${version} = ${version} + ${expr.value(1)}`,
          `contains(${holders}, ${expr.value(labId)}) AND ${count} > ${expr.value(1)}`,
          expr,
        );
        if (left) return { key, released: true, lastHolder: false };
      }
      const current = await this.getShared(key);
      if (!current) return { key, released: false, lastHolder: false };
      if (!current.holders.includes(labId)) {
        return {
          key,
          released: false,
          lastHolder: current.holderCount === 0 && current.lastReleasedBy === labId,
        };
      }
    }
    throw new RegistryConflict(`could not release ${key} for ${labId}: too many concurrent changes`);
  }

  /** Singletons `labId` holds, or released last and has not finished reverting. */
  async sharedHeldBy(labId: string): Promise<SharedRecord[]> {
    const expr = new Expression();
    const filter =
      `${expr.name('kind')} = ${expr.value('shared')} AND (contains(${expr.name('holders')}, ${expr.value(labId)})` +
      ` OR (${expr.name('lastReleasedBy')} = ${expr.value(labId)} AND ${expr.name('phase')} IN` +
      ` (${expr.value('revert-pending')}, ${expr.value('reverting')})))`;
    const items = await scanAll(this.table, { FilterExpression: filter, ...expr.input() });
    return items.map((item) => toShared(item)!).sort((a, b) => a.key.localeCompare(b.key));
  }

  /**
   * Takes the revert of a singleton `labId` released last: succeeds only while nobody has
   * acquired it since (count 0, revert pending), or when this lab's earlier attempt was cut short.
   * An acquisition after this sees `reverting` and waits.
   */
  async claimRevert(key: string, labId: string): Promise<SharedRecord | undefined> {
    const expr = new Expression();
    const phase = expr.name('phase');
    const reverting = expr.value('reverting');
    return this.conditionalUpdate(
      key,
      `SET ${phase} = ${reverting}, ${expr.name('updatedAt')} = ${expr.value(nowIso(this.table.clock()))}`,
      `${expr.name('holderCount')} = ${expr.value(0)} AND ${expr.name('lastReleasedBy')} = ${expr.value(labId)}` +
        ` AND ${phase} IN (${expr.value('revert-pending')}, ${reverting})`,
      expr,
    );
  }

  /** Ends a revert: the account is back to its own state, so the next first holder snapshots it anew. */
  async finishRevert(key: string, labId: string): Promise<boolean> {
    const expr = new Expression();
    const phase = expr.name('phase');
    const done = await this.conditionalUpdate(
      key,
      `SET ${phase} = ${expr.value('idle')}, ${expr.name('updatedAt')} = ${expr.value(nowIso(this.table.clock()))}` +
        ` REMOVE ${expr.name('previous')}`,
      `${phase} = ${expr.value('reverting')} AND ${expr.name('lastReleasedBy')} = ${expr.value(labId)}`,
      expr,
    );
    return done !== undefined;
  }
}

/** JSON with sorted keys: the same config always gives the same text. */
export function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => a.localeCompare(b));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function differingField(
  held: Record<string, unknown> | undefined,
  wanted: Record<string, unknown> | undefined,
) {
  const keys = new Set([...Object.keys(held ?? {}), ...Object.keys(wanted ?? {})]);
  for (const key of [...keys].sort()) {
    if (stableJson(held?.[key]) !== stableJson(wanted?.[key])) return key;
  }
  return 'config';
}
