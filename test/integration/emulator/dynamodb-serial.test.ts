import {
  CreateTableCommand,
  DynamoDBClient,
  PutItemCommand,
  UpdateItemCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { SharedLocks } from '../../../functions/shared/registry/shared-locks.js';
import { RegistryTable, documentClient } from '../../../functions/shared/registry/table.js';
import { emulatorClientConfig, useEmulator } from '../../helpers/emulator.js';

/**
 * moto alone lets concurrent conditional updates of one item both pass their condition (without
 * the emulator's serialization the first test below sees several "first holders" in most
 * rounds); the emulator forwards DynamoDB requests one at a time per table, so every client (each
 * of these has its own connections, as separate processes would) sees real DynamoDB's
 * per-request atomicity.
 */
const emulator = useEmulator();
const TABLE = 'serial-it';
const WRITERS = 8;
const client = () => new DynamoDBClient({ ...emulatorClientConfig(emulator()), maxAttempts: 1 });

beforeAll(async () => {
  const admin = client();
  await admin.send(
    new CreateTableCommand({
      TableName: TABLE,
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  await waitUntilTableExists({ client: admin, maxWaitTime: 30 }, { TableName: TABLE });
});

describe('DynamoDB through the emulator', () => {
  it('gives a registry singleton exactly one first holder among concurrent acquisitions, every time', async () => {
    const firstHolders: number[] = [];
    for (let round = 0; round < 10; round++) {
      const results = await Promise.all(
        Array.from({ length: WRITERS }, (_, i) =>
          new SharedLocks(new RegistryTable(documentClient(client()), TABLE)).acquireShared(
            `tier-${round}`,
            `lab-${i}`,
            {
              snapshot: { value: 'standard' },
            },
          ),
        ),
      );
      firstHolders.push(results.filter((r) => r.firstHolder).length);
      expect(Math.max(...results.map((r) => r.holderCount))).toBe(WRITERS);
    }
    expect(firstHolders).toEqual(Array(10).fill(1));
  });

  it('lets exactly one of concurrent compare-and-set updates from the same version win', async () => {
    await client().send(
      new PutItemCommand({ TableName: TABLE, Item: { pk: { S: 'counter' }, version: { N: '1' } } }),
    );
    const results = await Promise.allSettled(
      Array.from({ length: WRITERS }, () =>
        client().send(
          new UpdateItemCommand({
            TableName: TABLE,
            Key: { pk: { S: 'counter' } },
            UpdateExpression: 'SET version = version + :one',
            ConditionExpression: 'version = :expected',
            ExpressionAttributeValues: { ':one': { N: '1' }, ':expected': { N: '1' } },
          }),
        ),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(
      results.filter(
        (r) => r.status === 'rejected' && (r.reason as Error).name === 'ConditionalCheckFailedException',
      ),
    ).toHaveLength(WRITERS - 1);
  });
});
