import { GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts';
import { partitionOf } from './names.js';

/** The account (and its partition) the tasks run in: for ARNs AWS does not return, such as a setting's. */
export interface CallerAccount {
  accountId: string;
  partition: string;
}

const cache = new WeakMap<Pick<STSClient, 'send'>, Promise<CallerAccount>>();

/**
 * GetCallerIdentity once per client (so once per warm container); a failed call is not cached, so
 * the next invocation asks again.
 */
export function callerAccount(sts: Pick<STSClient, 'send'>): Promise<CallerAccount> {
  let pending = cache.get(sts);
  if (!pending) {
    pending = sts.send(new GetCallerIdentityCommand({})).then(({ Account, Arn }) => ({
      accountId: Account!,
      partition: Arn?.split(':')[1] ?? 'aws',
    }));
    pending.catch(() => cache.delete(sts));
    cache.set(sts, pending);
  }
  return pending;
}

/** The Region a client was built for (AWS_REGION in Lambda), for ARNs the task must compose. */
export function clientRegion(client: { config: { region: () => Promise<string> } }): Promise<string> {
  return client.config.region();
}

/** The partition of the Region a client was built for (`partitionOf`). */
export async function clientPartition(client: {
  config: { region: () => Promise<string> };
}): Promise<string> {
  return partitionOf(await clientRegion(client));
}
