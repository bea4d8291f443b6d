import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  ScanCommand,
  UpdateCommand,
  type ScanCommandInput,
} from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { awsClient } from '../clients.js';
import { isErrorNamed } from '../errors.js';

/**
 * The registry's DynamoDB table: one table, three kinds of item, each under its own key prefix
 * (`lab#<labId>`: lab-records.ts, `shared#<key>`: shared-locks.ts, `ready#<key>`: ready-marks.ts),
 * and what every kind's reads and writes share: the client, the key, the expression builder.
 * Every write is conditional, so concurrent tasks, API calls and schedules never lose each other's
 * updates. Nothing secret is ever written here (names, ids and ARNs only; redaction.ts).
 */

/** The table's partition key and its TTL attribute (infra/ creates the table with exactly these). */
export const REGISTRY_KEY = 'pk';
export const REGISTRY_TTL_ATTRIBUTE = 'expiresAt';

/** How long a deleted lab's record stays readable (`GET /labs/{id}` answers `deleted`) before TTL purges it. */
export const DELETED_RECORD_DAYS = 7;

export const registryEnvSchema = z.object({
  /** Unset: the deployment has no registry; set: the table every lab is recorded in. */
  REGISTRY_TABLE: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{3,255}$/, 'must be a DynamoDB table name')
    .optional(),
});

/** The kinds of item the table holds, each the prefix of its items' keys. */
export type ItemKind = 'lab' | 'shared' | 'ready';

/** The key of the `kind` item named `id`. */
export const itemKey = (kind: ItemKind, id: string) => ({ [REGISTRY_KEY]: `${kind}#${id}` });

/** The table a store reads and writes, and the clock its timestamps come from. */
export class RegistryTable {
  constructor(
    readonly doc: Pick<DynamoDBDocumentClient, 'send'>,
    readonly name: string,
    readonly clock: () => Date = () => new Date(),
  ) {}
}

/** An item as DynamoDB returns it, key attributes included. */
export type StoredItem = Record<string, unknown>;

/** The error DynamoDB answers when a write's condition does not hold. */
export const CONDITION_FAILED = 'ConditionalCheckFailedException';

/** How many times an optimistic read-modify-write is tried before a concurrent writer wins. */
export const OPTIMISTIC_ATTEMPTS = 6;

export const nowIso = (now: Date) => now.toISOString();
export const epochSeconds = (date: Date) => Math.floor(date.getTime() / 1000);

/** Builds an update expression from named clauses, keeping attribute names and values apart. */
export class Expression {
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

/** The item at `key`, read consistently (a write just made is seen); undefined when there is none. */
export async function getItem(
  table: RegistryTable,
  key: Record<string, string>,
): Promise<StoredItem | undefined> {
  const { Item } = await table.doc.send(
    new GetCommand({ TableName: table.name, Key: key, ConsistentRead: true }),
  );
  return Item;
}

/**
 * An update of the item at `key` made only if `condition` holds: the item as it then is, or
 * undefined when the condition did not hold (another writer got there first, or no such item).
 */
export async function updateIf(
  table: RegistryTable,
  key: Record<string, string>,
  update: string,
  condition: string,
  expr: Expression,
): Promise<StoredItem | undefined> {
  try {
    const { Attributes } = await table.doc.send(
      new UpdateCommand({
        TableName: table.name,
        Key: key,
        UpdateExpression: update,
        ConditionExpression: condition,
        ...expr.input(),
        ReturnValues: 'ALL_NEW',
      }),
    );
    return Attributes;
  } catch (err) {
    if (isErrorNamed(err, CONDITION_FAILED)) return undefined;
    throw err;
  }
}

/** Scans every page matching `input`'s filter (labs or singletons; a few hundred items at most). */
export async function scanAll(
  table: RegistryTable,
  input: Omit<ScanCommandInput, 'TableName'>,
): Promise<StoredItem[]> {
  const items: StoredItem[] = [];
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await table.doc.send(
      new ScanCommand({ TableName: table.name, ...input, ExclusiveStartKey, ConsistentRead: true }),
    );
    items.push(...((page.Items ?? []) as StoredItem[]));
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return items;
}

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
