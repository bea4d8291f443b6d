import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { isErrorNamed } from '../errors.js';
import { SHARED_KEYS, type ReadyMarks } from '../shared-resources.js';
import { withoutSecrets } from './redaction.js';
import {
  CONDITION_FAILED,
  DELETED_RECORD_DAYS,
  Expression,
  REGISTRY_KEY,
  REGISTRY_TTL_ATTRIBUTE,
  epochSeconds,
  getItem,
  itemKey,
  nowIso,
  type RegistryTable,
} from './table.js';

/**
 * Ready marks in the registry table (`ready#<key>` items): the first holder of a singleton records
 * that it has converged it for the current holding, with what its users need of it (names and
 * ARNs, never a secret), so the other holders read one item instead of polling the account's
 * rate-limited APIs (shared-resources.ts, `useOrConverge`).
 */

const readyKey = (key: string) => itemKey('ready', key);

/** Reads and writes the ready marks of the registry table. */
export class ReadyMarkStore {
  constructor(readonly table: RegistryTable) {}

  /**
   * Records that the singleton (or part of one) `key` is converged for the holding that began at
   * `heldSince`, with `value`. Never moves back to an earlier holding; an item of a later one
   * stays. Kept DELETED_RECORD_DAYS after its last write.
   */
  async markReady(key: string, heldSince: string, value: Record<string, unknown>): Promise<void> {
    const now = this.table.clock();
    const expr = new Expression();
    const item = {
      ...readyKey(key),
      kind: 'shared-ready',
      key,
      heldSince,
      value: withoutSecrets(value),
      updatedAt: nowIso(now),
      [REGISTRY_TTL_ATTRIBUTE]: epochSeconds(now) + DELETED_RECORD_DAYS * 86_400,
    };
    const condition = `attribute_not_exists(${expr.name(REGISTRY_KEY)}) OR ${expr.name('heldSince')} <= ${expr.value(heldSince)}`;
    try {
      await this.table.doc.send(
        new PutCommand({
          TableName: this.table.name,
          Item: item,
          ConditionExpression: condition,
          ...expr.input(),
        }),
      );
    } catch (err) {
      if (!isErrorNamed(err, CONDITION_FAILED)) throw err;
    }
  }

  /** What `markReady` recorded for `key` in the holding that began at `heldSince`; undefined until then. */
  async readyValue(key: string, heldSince: string): Promise<Record<string, unknown> | undefined> {
    const item = await getItem(this.table, readyKey(key));
    return item?.heldSince === heldSince ? (item.value as Record<string, unknown>) : undefined;
  }
}

/**
 * A shared role's ready marks (SHARED_KEYS.sharedRoles holds both roles, so each has its own
 * mark), or none without a registry: the other labs then check IAM itself. The value is the
 * task's output: names and ARNs.
 */
export function sharedRoleMarks<T extends object>(
  marks: ReadyMarkStore | undefined,
  roleName: string,
): ReadyMarks<T> | undefined {
  if (!marks) return undefined;
  const key = `${SHARED_KEYS.sharedRoles}/${roleName}`;
  return {
    read: async (heldSince) => (await marks.readyValue(key, heldSince)) as T | undefined,
    mark: (heldSince, value) => marks.markReady(key, heldSince, value as Record<string, unknown>),
  };
}
