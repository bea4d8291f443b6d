import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  ScanCommand,
  UpdateCommand,
  type ScanCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { awsClient } from './clients.js';
import { readEnv } from './env.js';
import { LabError, NotReadyYet, isErrorNamed } from './errors.js';
import type { LabStatus } from './lab-status.js';

/**
 * The lab registry: one DynamoDB table holding every lab (status, per-step progress, resource
 * ledger, report, owner, expiry, generation) and the reference counts of the account-wide
 * singletons. Every write is conditional, so concurrent tasks, API calls and schedules never lose
 * each other's updates: whole-item changes are optimistic on `version`, step progress updates one
 * map entry atomically, and singleton acquire/release are guarded by their holder set and count.
 * Nothing secret is ever written here (names, ids and ARNs only).
 */

/** The table's partition key and its TTL attribute (infra/ creates the table with exactly these). */
export const REGISTRY_KEY = 'pk';
export const REGISTRY_TTL_ATTRIBUTE = 'expiresAt';

/** How long a deleted lab's record stays readable (`GET /labs/{id}` answers `deleted`) before TTL purges it. */
export const DELETED_RECORD_DAYS = 7;

export const registryEnvSchema = z.object({
  /** Unset: no registry (unit tests, plain local CLI runs); set: the table every lab is recorded in. */
  REGISTRY_TABLE: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{3,255}$/, 'must be a DynamoDB table name')
    .optional(),
});

export { LAB_STATUSES, type LabStatus } from './lab-status.js';

/** `waiting`: a poll task answered "not yet"; `retrying`: it threw a retryable error. */
export type StepStatus = 'running' | 'waiting' | 'retrying' | 'succeeded' | 'failed';

export const WORKFLOWS = ['provision-lab', 'teardown-lab', 'reset-lab'] as const;
export type WorkflowName = (typeof WORKFLOWS)[number];

export interface StepError {
  error: string;
  cause?: string;
}

export interface LabStep {
  name: string;
  status: StepStatus;
  startedAt: string;
  endedAt?: string;
  error?: StepError;
}

/** Why a workflow failed: the step (when known), the error name and its cause. */
export interface LabFailure {
  step?: string;
  error: string;
  cause?: string;
}

/** One lab as the registry holds it. */
export interface LabRecord {
  labId: string;
  status: LabStatus;
  /** 1 at creation, +1 per reset (and per re-creation of a deleted lab id). */
  generation: number;
  /** The execution currently working on the lab; unique per run (names are not reusable for 90 days). */
  executionName: string;
  workflow: WorkflowName;
  /** The provision input (labInputSchema output): what a reset provisions again. */
  options: Record<string, unknown>;
  currentStep?: string;
  steps: Record<string, LabStep>;
  /** Resource ids, names and ARNs each step reported (no secret values). */
  ledger: Record<string, Record<string, string>>;
  report?: Record<string, unknown>;
  error?: LabFailure;
  owner?: string;
  /** The signed caller that asked for the lab (API Gateway's caller identity), never a body field. */
  requestedBy?: string;
  classId?: string;
  clientRequestToken?: string;
  /** Epoch seconds; the table's TTL attribute. The schedule tears the lab down once it passes. */
  expiresAt: number;
  /** Reset by every run of the reset schedule once `resetAt` has passed. */
  nightlyReset: boolean;
  /** Epoch seconds from which the lab is due for its next scheduled reset. */
  resetAt?: number;
  createdAt: string;
  updatedAt: string;
  version: number;
}

/** Fields a change may set; `null` removes an optional one. */
type Mutable = Omit<LabRecord, 'labId' | 'createdAt' | 'updatedAt' | 'version'>;
export type LabChanges = {
  [K in keyof Mutable]?: Mutable[K] | (undefined extends Mutable[K] ? null : never);
};

/** States of a singleton: held by labs, free, or waiting for / in the middle of a revert. */
export type SharedPhase = 'held' | 'idle' | 'revert-pending' | 'reverting';

/** One account-wide singleton's reference count. */
export interface SharedRecord {
  key: string;
  holders: string[];
  holderCount: number;
  phase: SharedPhase;
  /** The lab that took the count from 0 to 1: it creates or sets the singleton. */
  firstHolder?: string;
  /** When the count went from 0 to 1 (ISO): how long the first holder has had to create it. */
  heldSince?: string;
  /** The lab that took the count to 0: it reverts the singleton when the deployment says so. */
  lastReleasedBy?: string;
  /** The account's state before session-lab first changed it, restored by a revert. */
  previous?: Record<string, unknown>;
  /** What the holders agreed on (the preferences a lab asked for), compared by `configHash`. */
  config?: Record<string, unknown>;
  configHash?: string;
  version: number;
  updatedAt: string;
}

export interface SharedAcquisition {
  key: string;
  /** This lab is the first holder: it must create / set the singleton. */
  firstHolder: boolean;
  holderCount: number;
  /** When the current holding began (ISO): the other holders wait so long for the first one. */
  heldSince: string;
}

export interface SharedRelease {
  key: string;
  /** This call removed the lab from the holders (false when it had already been removed). */
  released: boolean;
  /** The lab was the last holder: nobody else uses the singleton now. */
  lastHolder: boolean;
}

/**
 * The account's state before session-lab first changes a singleton, kept for a revert: a value, or
 * a read of it, made only when this lab may become the first holder (every other lab joins).
 */
export type SharedSnapshot = Record<string, unknown> | (() => Promise<Record<string, unknown>>);

/** An optimistic write lost to a concurrent one more often than the retries allow. */
export class RegistryConflict extends LabError {
  override name = 'RegistryConflict';
}

/** A lab asks for a shared setting different from the one the current holders share. */
export class SharedSettingConflict extends LabError {
  override name = 'SharedSettingConflict';
  constructor(
    readonly key: string,
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

const CONDITION_FAILED = 'ConditionalCheckFailedException';
const OPTIMISTIC_ATTEMPTS = 6;

const labKey = (labId: string) => ({ [REGISTRY_KEY]: `lab#${labId}` });
const sharedKey = (key: string) => ({ [REGISTRY_KEY]: `shared#${key}` });
const readyKey = (key: string) => ({ [REGISTRY_KEY]: `ready#${key}` });

const nowIso = (now: Date) => now.toISOString();
export const epochSeconds = (date: Date) => Math.floor(date.getTime() / 1000);

type Stored = Record<string, unknown>;

function toLab(item: Stored | undefined): LabRecord | undefined {
  if (!item) return undefined;
  const { [REGISTRY_KEY]: _pk, kind: _kind, ...lab } = item;
  return lab as unknown as LabRecord;
}

function toShared(item: Stored | undefined): SharedRecord | undefined {
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

/** Builds an update expression from named clauses, keeping attribute names and values apart. */
class Expression {
  readonly names: Record<string, string> = {};
  readonly values: Record<string, unknown> = {};
  private counter = 0;
  name(attribute: string): string {
    const placeholder = `#${attribute.replace(/[^A-Za-z0-9]/g, '')}`;
    this.names[placeholder] = attribute;
    return placeholder;
  }
  /** A path `a.b` where `b` is arbitrary text (a step name) gets its own placeholder. */
  path(...parts: string[]): string {
    return parts
      .map((part, i) => {
        if (i === 0) return this.name(part);
        const placeholder = `#p${this.counter++}`;
        this.names[placeholder] = part;
        return placeholder;
      })
      .join('.');
  }
  value(value: unknown): string {
    const placeholder = `:v${this.counter++}`;
    this.values[placeholder] = value;
    return placeholder;
  }
  input() {
    return {
      ExpressionAttributeNames: this.names,
      ...(Object.keys(this.values).length ? { ExpressionAttributeValues: this.values } : {}),
    };
  }
}

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

/** Reads and writes the registry table. Construct with `labRegistry()` in handlers; inject in tests. */
export class LabRegistry {
  constructor(
    readonly doc: Pick<DynamoDBDocumentClient, 'send'>,
    readonly tableName: string,
    readonly clock: () => Date = () => new Date(),
  ) {}

  async getLab(labId: string): Promise<LabRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: labKey(labId), ConsistentRead: true }),
    );
    return toLab(Item);
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
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
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
    set.push(`${expr.name('updatedAt')} = ${expr.value(nowIso(this.clock()))}`);
    const version = expr.name('version');
    set.push(`${version} = ${version} + ${expr.value(1)}`);
    const expected = expr.value(expectedVersion);
    try {
      const { Attributes } = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: labKey(labId),
          UpdateExpression: `SET ${set.join(', ')}${remove.length ? ` REMOVE ${remove.join(', ')}` : ''}`,
          ConditionExpression: `${version} = ${expected}`,
          ...expr.input(),
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toLab(Attributes)!;
    } catch (err) {
      if (isErrorNamed(err, CONDITION_FAILED))
        throw new RegistryConflict(`lab ${labId} changed since version ${expectedVersion}`, { cause: err });
      throw err;
    }
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
      `${expr.name('updatedAt')} = ${expr.value(nowIso(this.clock()))}`,
    ];
    if (options.ledger && Object.keys(options.ledger).length)
      set.push(`${expr.path('ledger', step.name)} = ${expr.value(options.ledger)}`);
    const conditions = [`attribute_exists(${expr.name(REGISTRY_KEY)})`];
    if (options.runIds?.length)
      conditions.push(
        `${expr.name('executionName')} IN (${options.runIds.map((id) => expr.value(id)).join(', ')})`,
      );
    try {
      const { Attributes } = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: labKey(labId),
          UpdateExpression: `SET ${set.join(', ')} ADD ${expr.name('version')} ${expr.value(1)}`,
          ConditionExpression: conditions.join(' AND '),
          ...expr.input(),
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toLab(Attributes);
    } catch (err) {
      if (isErrorNamed(err, CONDITION_FAILED)) return undefined;
      throw err;
    }
  }

  /** Scans every page matching `filter` (labs or singletons; a few hundred items at most). */
  private async scanAll(input: Omit<ScanCommandInput, 'TableName'>): Promise<Stored[]> {
    const items: Stored[] = [];
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new ScanCommand({ TableName: this.tableName, ...input, ExclusiveStartKey, ConsistentRead: true }),
      );
      items.push(...((page.Items ?? []) as Stored[]));
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return items;
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
      const result = await this.doc.send(
        new ScanCommand({
          TableName: this.tableName,
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
    const items = await this.scanAll({
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
    const items = await this.scanAll({ FilterExpression: filter, ...expr.input() });
    return items.map((item) => toLab(item)!);
  }

  async getShared(key: string): Promise<SharedRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: sharedKey(key), ConsistentRead: true }),
    );
    return toShared(Item);
  }

  private async conditionalUpdate(
    key: string,
    update: string,
    condition: string,
    expr: Expression,
  ): Promise<SharedRecord | undefined> {
    try {
      const { Attributes } = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: sharedKey(key),
          UpdateExpression: update,
          ConditionExpression: condition,
          ...expr.input(),
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toShared(Attributes);
    } catch (err) {
      if (isErrorNamed(err, CONDITION_FAILED)) return undefined;
      throw err;
    }
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
      const now = nowIso(this.clock());
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
      const now = nowIso(this.clock());
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

  /**
   * Records that the singleton (or part of one) `key` is converged for the holding that began at
   * `heldSince`, with what its users need of it (names and ARNs, never a secret), so the other
   * holders read this item instead of the account's rate-limited APIs. Never moves back to an
   * earlier holding; an item of a later one stays. Kept DELETED_RECORD_DAYS after its last write.
   */
  async markReady(key: string, heldSince: string, value: Record<string, unknown>): Promise<void> {
    const now = this.clock();
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
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
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
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: readyKey(key), ConsistentRead: true }),
    );
    return Item?.heldSince === heldSince ? (Item.value as Record<string, unknown>) : undefined;
  }

  /** Singletons `labId` holds, or released last and has not finished reverting. */
  async sharedHeldBy(labId: string): Promise<SharedRecord[]> {
    const expr = new Expression();
    const filter =
      `${expr.name('kind')} = ${expr.value('shared')} AND (contains(${expr.name('holders')}, ${expr.value(labId)})` +
      ` OR (${expr.name('lastReleasedBy')} = ${expr.value(labId)} AND ${expr.name('phase')} IN` +
      ` (${expr.value('revert-pending')}, ${expr.value('reverting')})))`;
    const items = await this.scanAll({ FilterExpression: filter, ...expr.input() });
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
      `SET ${phase} = ${reverting}, ${expr.name('updatedAt')} = ${expr.value(nowIso(this.clock()))}`,
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
      `SET ${phase} = ${expr.value('idle')}, ${expr.name('updatedAt')} = ${expr.value(nowIso(this.clock()))}` +
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

/** True when `executionName` is the teardown child of the lab's current reset (reset-lab names it `<reset>-teardown`). */
export function isResetTeardown(lab: LabRecord, executionName: string | undefined): boolean {
  return lab.workflow === 'reset-lab' && executionName === `${lab.executionName}-teardown`;
}

/** The execution names that count as the lab's current run: its own, and a reset's two children. */
export function currentRunIds(lab: LabRecord): string[] {
  return lab.workflow === 'reset-lab'
    ? [lab.executionName, `${lab.executionName}-teardown`, `${lab.executionName}-provision`]
    : [lab.executionName];
}

const SECRET_KEYS =
  /^(password|passwordValue|secret|secretString|secretValue|privateKey|privateKeyMaterial|keyMaterial|activationCode|code|token|sessionToken|secretAccessKey)$/i;
const LEDGER_KEYS = /(Id|Ids|Arn|Arns|Name|Names|Parameter|Parameters)$/;
const MAX_TEXT = 2048;

/** A copy of `value` without secret-named keys or PEM blocks: what may go into the registry, events and the API. */
export function withoutSecrets<T>(value: T): T {
  if (Array.isArray(value)) return value.map((item) => withoutSecrets(item)) as T;
  if (typeof value === 'string')
    return (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(value) ? '[removed]' : value) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([key]) => !SECRET_KEYS.test(key))
        .map(([key, item]) => [key, withoutSecrets(item)]),
    ) as T;
  }
  return value;
}

/**
 * The resource ids, names and ARNs in a task's output, flattened (`network.vpcId`,
 * `instances.0.instanceId`): the lab's resource ledger entry for the step. Bounded in size.
 */
export function ledgerOf(output: unknown, limit = 64): Record<string, string> {
  const ledger: Record<string, string> = {};
  const walk = (value: unknown, path: string[], key: string) => {
    if (Object.keys(ledger).length >= limit) return;
    if (typeof value === 'string') {
      if (
        LEDGER_KEYS.test(key) &&
        !SECRET_KEYS.test(key) &&
        value.length <= MAX_TEXT &&
        !/[\r\n]/.test(value)
      )
        ledger[path.join('.')] = value;
    } else if (Array.isArray(value)) {
      value.forEach((item, i) => walk(item, [...path, String(i)], key));
    } else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) walk(v, [...path, k], k);
    }
  };
  walk(output, [], '');
  return ledger;
}

/** Text cut to a size that fits an item and a log line. */
export const clip = (text: string, max = 1024) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

const documentClients = new WeakMap<DynamoDBClient, DynamoDBDocumentClient>();

/** The Document client over the shared DynamoDB client (undefined values dropped, sets kept). */
export function documentClient(client: DynamoDBClient = awsClient(DynamoDBClient)): DynamoDBDocumentClient {
  let doc = documentClients.get(client);
  if (!doc) {
    doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    documentClients.set(client, doc);
  }
  return doc;
}

/**
 * The registry named by REGISTRY_TABLE (validated; a malformed name fails naming the variable), or
 * undefined when the deployment has none.
 */
export function labRegistry(env: NodeJS.ProcessEnv = process.env): LabRegistry | undefined {
  const { REGISTRY_TABLE } = readEnv(registryEnvSchema, env);
  return REGISTRY_TABLE ? new LabRegistry(documentClient(), REGISTRY_TABLE) : undefined;
}

/** Like labRegistry, for functions that cannot work without one (the API). */
export function requiredLabRegistry(env: NodeJS.ProcessEnv = process.env): LabRegistry {
  const { REGISTRY_TABLE } = readEnv(
    z.object({ REGISTRY_TABLE: registryEnvSchema.shape.REGISTRY_TABLE.unwrap() }),
    env,
  );
  return new LabRegistry(documentClient(), REGISTRY_TABLE);
}
