import {
  CreateTableCommand,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { isErrorNamed } from '../../functions/shared/errors.js';
import { REGISTRY_KEY, REGISTRY_TTL_ATTRIBUTE } from '../../functions/shared/registry/table.js';

/** The registry table name `session-lab serve` and `list` use when REGISTRY_TABLE is unset. */
export const LOCAL_REGISTRY_TABLE = 'session-lab-registry';

/**
 * Creates the registry table in the emulator if it is missing, as infra/ defines it: the `pk`
 * string key, on-demand billing, TTL on `expiresAt`. An existing table is left as it is.
 */
export async function ensureRegistryTable(dynamodb: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await dynamodb.send(
      new CreateTableCommand({
        TableName: tableName,
        AttributeDefinitions: [{ AttributeName: REGISTRY_KEY, AttributeType: 'S' }],
        KeySchema: [{ AttributeName: REGISTRY_KEY, KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  } catch (err) {
    if (!isErrorNamed(err, 'ResourceInUseException')) throw err;
    return;
  }
  await waitUntilTableExists({ client: dynamodb, maxWaitTime: 30 }, { TableName: tableName });
  await dynamodb.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { AttributeName: REGISTRY_TTL_ATTRIBUTE, Enabled: true },
    }),
  );
}
