import { describe, expect, it } from '@jest/globals';
import { serializeDynamoDb, tableOf } from '../../../local/emulator/dynamodb-serial.js';
import { RawReply, type AwsCall, type RawRequest } from '../../../local/emulator/protocol.js';

const raw = (id: string): RawRequest => ({
  method: 'POST',
  url: `/${id}`,
  headers: {},
  body: Buffer.from(''),
});
const call = (
  operation: string,
  input: Record<string, unknown>,
  service = 'dynamodb',
  region = 'us-east-1',
) => ({ service, operation, region, protocol: 'json', input, raw: raw(operation) }) as AwsCall;

/** A moto stand-in that answers after a tick and records how many requests it holds at once, per key. */
function fakeMoto() {
  const active = new Map<string, number>();
  const peak = new Map<string, number>();
  const order: string[] = [];
  const forward = async (request: RawRequest) => {
    const key = request.url;
    order.push(`start ${key}`);
    active.set('all', (active.get('all') ?? 0) + 1);
    peak.set('all', Math.max(peak.get('all') ?? 0, active.get('all')!));
    await new Promise((resolve) => setTimeout(resolve, 5));
    active.set('all', active.get('all')! - 1);
    order.push(`end ${key}`);
    if (key.includes('fail')) throw new Error('moto down');
    return new RawReply(200, {}, key);
  };
  return { forward, peak, order };
}

describe('serializeDynamoDb (the emulator’s DynamoDB forwarding)', () => {
  it('names the table a call works on, none for calls that may touch several', () => {
    expect(tableOf({ operation: 'UpdateItem', input: { TableName: 'registry' } })).toBe('registry');
    expect(tableOf({ operation: 'TransactWriteItems', input: { TransactItems: [] } })).toBeUndefined();
    expect(tableOf({ operation: 'ListTables', input: {} })).toBeUndefined();
  });

  it('sends one table’s requests one at a time, in arrival order', async () => {
    const moto = fakeMoto();
    const send = serializeDynamoDb(moto.forward);
    const replies = await Promise.all(
      ['a', 'b', 'c'].map((id) => send(call('UpdateItem', { TableName: 't' }), raw(id))),
    );
    expect(replies.map((r) => r.body)).toEqual(['/a', '/b', '/c']);
    expect(moto.peak.get('all')).toBe(1);
    expect(moto.order).toEqual(['start /a', 'end /a', 'start /b', 'end /b', 'start /c', 'end /c']);
  });

  it('lets different tables, and other services, go side by side', async () => {
    const moto = fakeMoto();
    const send = serializeDynamoDb(moto.forward);
    await Promise.all([
      send(call('PutItem', { TableName: 'one' }), raw('x')),
      send(call('PutItem', { TableName: 'two' }), raw('y')),
      send(call('PutItem', { TableName: 'one' }, 'dynamodb', 'eu-west-1'), raw('z')),
      send(call('GetParameter', { Name: 'p' }, 'ssm'), raw('s')),
      send(undefined, raw('unsigned')),
    ]);
    expect(moto.peak.get('all')).toBe(5);
  });

  it('runs a multi-table request alone: after every table’s queue, before anything later', async () => {
    const moto = fakeMoto();
    const send = serializeDynamoDb(moto.forward);
    await Promise.all([
      send(call('PutItem', { TableName: 'one' }), raw('p1')),
      send(call('PutItem', { TableName: 'two' }), raw('p2')),
      send(call('TransactWriteItems', {}), raw('tx')),
      send(call('PutItem', { TableName: 'one' }), raw('p3')),
    ]);
    const at = (event: string) => moto.order.indexOf(event);
    expect(at('start /tx')).toBeGreaterThan(Math.max(at('end /p1'), at('end /p2')));
    expect(at('start /p3')).toBeGreaterThan(at('end /tx'));
  });

  it('passes a failure to its caller and still serves the next request', async () => {
    const moto = fakeMoto();
    const send = serializeDynamoDb(moto.forward);
    const [failed, next] = await Promise.allSettled([
      send(call('PutItem', { TableName: 't' }), raw('fail')),
      send(call('PutItem', { TableName: 't' }), raw('ok')),
    ]);
    expect(failed).toMatchObject({ status: 'rejected', reason: { message: 'moto down' } });
    expect(next).toMatchObject({ status: 'fulfilled', value: { body: '/ok' } });
  });
});
