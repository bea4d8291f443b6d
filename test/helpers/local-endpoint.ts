import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll } from '@jest/globals';
import { resetClients } from '../../functions/shared/clients.js';
import type { RetryWaits } from './retry-waits.js';

/**
 * An AWS endpoint of the test's own for a describe block: a node:http server on a free port that
 * AWS_ENDPOINT_URL points the product's clients at. After the block the environment is restored
 * and, once the SDK retry waits `waits` tracks have settled (no timer outlives the file), it closes.
 */
export function useLocalEndpoint(answer: RequestListener, waits?: RetryWaits): void {
  const saved = { ...process.env };
  const server = createServer(answer);
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    Object.assign(process.env, {
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    });
    resetClients();
  });
  afterAll(async () => {
    process.env = saved;
    resetClients();
    await waits?.settled();
    await new Promise((resolve) => server.close(resolve));
  });
}
