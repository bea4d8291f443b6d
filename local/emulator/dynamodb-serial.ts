import type { AwsCall, RawReply, RawRequest } from './protocol.js';

/**
 * moto's server handles requests on several threads and its DynamoDB backend takes no lock, so two
 * conditional writes to one item can both pass their condition (two "first holders" of a lab
 * registry singleton), which real DynamoDB never allows: each request is atomic. The emulator
 * therefore forwards DynamoDB requests to moto one table at a time: a request waits for the ones
 * before it on the same table (per Region) (requests naming several tables, or none, wait for every table).
 * Every client gets real DynamoDB's per-request atomicity, whatever process it runs in, while
 * multi-request algorithms still interleave freely between requests.
 */

type Forward = (raw: RawRequest) => Promise<RawReply>;

/** Operations that touch more than one table, or none a single `TableName` names. */
const MULTI_TABLE = new Set([
  'BatchGetItem',
  'BatchWriteItem',
  'TransactGetItems',
  'TransactWriteItems',
  'ExecuteTransaction',
  'BatchExecuteStatement',
  'ExecuteStatement',
  'ListTables',
]);

/** The table a DynamoDB call works on, or undefined when it may touch several. */
export function tableOf(call: Pick<AwsCall, 'operation' | 'input'>): string | undefined {
  if (MULTI_TABLE.has(call.operation)) return undefined;
  const name = (call.input as { TableName?: unknown } | undefined)?.TableName;
  return typeof name === 'string' && name !== '' ? name : undefined;
}

/**
 * Wraps the forwarding to moto: DynamoDB calls go one at a time per table, everything else at
 * once. A failed request releases its turn like a successful one.
 */
export function serializeDynamoDb(
  forward: Forward,
): (call: AwsCall | undefined, raw: RawRequest) => Promise<RawReply> {
  const tails = new Map<string, Promise<unknown>>();
  let all: Promise<unknown> = Promise.resolve();

  const after = (wait: Promise<unknown>, run: () => Promise<RawReply>) => {
    const sent = wait.then(run);
    return { sent, settled: sent.catch(() => undefined) };
  };

  return (call, raw) => {
    if (call?.service !== 'dynamodb') return forward(raw);
    const table = tableOf(call);
    if (table === undefined) {
      // Waits for every table's queue, and every later request waits for it.
      const { sent, settled } = after(Promise.all([all, ...tails.values()]), () => forward(raw));
      all = settled;
      tails.clear();
      return sent;
    }
    const key = `${call.region}/${table}`;
    const { sent, settled } = after(Promise.all([all, tails.get(key)]), () => forward(raw));
    tails.set(key, settled);
    // Forget an idle table's queue so the map does not grow with tables that are gone.
    void settled.then(() => {
      if (tails.get(key) === settled) tails.delete(key);
    });
    return sent;
  };
}
