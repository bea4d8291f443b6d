import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

const serialized = new WeakSet<DynamoDBClient>();

/**
 * moto's server handles requests on several threads and its DynamoDB backend takes no lock, so two
 * conditional writes to one item can both pass their condition (two "first holders" of a
 * singleton), which real DynamoDB never allows: each request is atomic. Sending this process's
 * DynamoDB requests one at a time restores that per-request atomicity for everything that runs
 * in-process (the local API, the local runner's tasks), while the multi-request algorithms still
 * interleave freely between requests. Retries pass through it per attempt. Local only: deployed
 * code never calls this.
 */
export function serializeDynamoDbRequests(client: DynamoDBClient): DynamoDBClient {
  if (serialized.has(client)) return client;
  let tail: Promise<unknown> = Promise.resolve();
  client.middlewareStack.add(
    (next) => (args) => {
      const sent = tail.then(() => next(args));
      tail = sent.catch(() => undefined);
      return sent;
    },
    { step: 'deserialize', priority: 'low', name: 'sessionLabSerializeForMoto' },
  );
  serialized.add(client);
  return client;
}
