import { CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { IAMClient } from '@aws-sdk/client-iam';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import { ConfigurationError, THROTTLING_ERRORS, isErrorNamed } from './errors.js';
import { InvocationRetryStrategy } from './retries.js';

/** The configuration every session-lab client is built with. */
export interface ClientConfig {
  region: string;
  retryMode: 'adaptive';
  maxAttempts: number;
}

/**
 * Region from the environment (Lambda always sets AWS_REGION), adaptive retries so throttling is
 * absorbed by the SDK's client-side rate limiter instead of hand-written loops. The endpoint is
 * deliberately not set here: the SDK honours the standard AWS_ENDPOINT_URL variable, which is how
 * the same code reaches the local emulator.
 */
export function clientConfig(env: NodeJS.ProcessEnv = process.env): ClientConfig {
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (!region) throw new ConfigurationError('AWS_REGION', 'AWS_REGION (or AWS_DEFAULT_REGION) must be set');
  const maxAttempts = Number(env.SESSION_LAB_MAX_ATTEMPTS ?? 8);
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new ConfigurationError(
      'SESSION_LAB_MAX_ATTEMPTS',
      'SESSION_LAB_MAX_ATTEMPTS must be a positive integer',
    );
  }
  return { region, retryMode: 'adaptive', maxAttempts };
}

type ClientClass<T> = new (config: ClientConfig & { retryStrategy: InvocationRetryStrategy }) => T;

/** The clients of this container: one per class. */
const cache = new Map<ClientClass<unknown>, unknown>();

/**
 * One client per class per container, created on first use and reused across warm invocations.
 * A single generic factory instead of one hand-written getter per service. Each client retries
 * with its own `InvocationRetryStrategy` (retries.ts): the SDK's adaptive one, bounded by the
 * invocation's deadline for throttling.
 */
export function awsClient<T extends { config: { serviceId?: string } }>(Client: ClientClass<T>): T {
  let client = cache.get(Client) as T | undefined;
  if (!client) {
    const config = clientConfig();
    // Filled once the client names its service; the strategy reads it only when a call fails.
    const notThrottling: string[] = [];
    client = new Client({
      ...config,
      retryStrategy: new InvocationRetryStrategy(config.maxAttempts, notThrottling),
    });
    notThrottling.push(...(NOT_THROTTLING[client.config.serviceId ?? ''] ?? []));
    cache.set(Client, client);
  }
  return client;
}

/**
 * Error names the SDK's retry counts as throttling (its list is service-agnostic) that a service
 * uses for a quota instead. IAM throttles with `Throttling`; its `LimitExceededException` is a
 * quota, such as a second role for an instance profile, which two labs racing to set up the
 * shared profile meet. Counted as throttling, that permanent answer was retried 8 times with
 * throttling back-off (39 s measured) and cut the adaptive rate of every other IAM call.
 * SSM answers `TooManyUpdates` (HTTP 429) while a service setting change is pending, for minutes:
 * labs provisioned together meet it on the tier, and the SDK's 8 throttling retries outlasted
 * enable-advanced-tier's 60 s timeout (benchmark sweep); the task itself handles it at once.
 * Keyed by the client's `serviceId` rather than its class, so that a bundle does not import the
 * IAM and SSM clients just to look them up.
 */
const NOT_THROTTLING: Partial<Record<string, readonly string[]>> = {
  IAM: ['LimitExceededException'],
  SSM: ['TooManyUpdates'],
};

/** Drops cached clients, for a process that changes its region or endpoint (the local runner, tests). */
export function resetClients(): void {
  cache.clear();
}

/** Every AWS client a lab task may be given; each task declares the subset it needs with `Pick`. */
export interface LabClients {
  cloudtrail: CloudTrailClient;
  dynamodb: DynamoDBClient;
  ec2: EC2Client;
  events: EventBridgeClient;
  iam: IAMClient;
  logs: CloudWatchLogsClient;
  s3: S3Client;
  secrets: SecretsManagerClient;
  sfn: SFNClient;
  ssm: SSMClient;
  sts: STSClient;
}

/** The client class of each of the given `LabClients` keys. */
export type ClientClasses<K extends keyof LabClients> = { [P in K]: ClientClass<LabClients[P]> };

/**
 * The cached clients of the given classes as a lazy object, each constructed on first use. A
 * handler names the clients its task declares (`clientsFor({ ssm: SSMClient, sts: STSClient })`)
 * so that its bundle carries only those SDK clients: esbuild keeps every client a module imports.
 */
export function clientsFor<K extends keyof LabClients>(classes: ClientClasses<K>): Pick<LabClients, K> {
  const lazy = {} as Pick<LabClients, K>;
  for (const [key, Client] of Object.entries(classes) as [K, ClientClass<LabClients[K]>][]) {
    Object.defineProperty(lazy, key, { enumerable: true, get: () => awsClient(Client) });
  }
  return lazy;
}

/**
 * Every client, lazily, for callers that are not bundled as a Lambda (the CLI, the bench, tests).
 * Handlers use `clientsFor` instead: a bundle that calls this carries every SDK client.
 */
export function labClients(): LabClients {
  return clientsFor({
    cloudtrail: CloudTrailClient,
    dynamodb: DynamoDBClient,
    ec2: EC2Client,
    events: EventBridgeClient,
    iam: IAMClient,
    logs: CloudWatchLogsClient,
    s3: S3Client,
    secrets: SecretsManagerClient,
    sfn: SFNClient,
    ssm: SSMClient,
    sts: STSClient,
  });
}

/** The name of the error `sentAtMostOnce` raises: the call may or may not have taken effect. */
export const OUTCOME_UNKNOWN = 'OutcomeUnknown';

const CONNECTION_LOST = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

interface CommandWithStack {
  middlewareStack: { add: (middleware: never, options: never) => void };
}

/**
 * Marks a call that AWS cannot make idempotent (no client token, such as SSM SendCommand) so the
 * SDK does not send it again when its answer is lost: after a 5xx, a timeout or a dropped
 * connection the request may have taken effect, and a blind resend runs it twice (two
 * registration commands racing for one-registration activations failed the lab). Such an answer
 * becomes an `OutcomeUnknown` error for the task, which checks what happened before sending
 * again. Throttling (refused before it took effect) is still retried by the SDK.
 */
export function sentAtMostOnce<C extends CommandWithStack>(command: C): C {
  type Next = (args: unknown) => Promise<unknown>;
  const middleware = (next: Next) => async (args: unknown) => {
    try {
      return await next(args);
    } catch (err) {
      const error = err as Error & { $metadata?: { httpStatusCode?: number }; code?: string };
      const status = error.$metadata?.httpStatusCode ?? 0;
      const lost =
        (status >= 500 && !isErrorNamed(error, ...THROTTLING_ERRORS)) ||
        error.name === 'TimeoutError' ||
        CONNECTION_LOST.has(error.code ?? '');
      if (!lost) throw err;
      // No `cause`: the SDK's retry would classify the wrapped error as transient again.
      throw Object.assign(
        new Error(
          `${error.name}${status ? ` (HTTP ${status})` : ''}: ${error.message} (the request may have taken effect)`,
        ),
        { name: OUTCOME_UNKNOWN, original: error },
      );
    }
  };
  command.middlewareStack.add(
    middleware as never,
    { step: 'deserialize', priority: 'high', name: 'sentAtMostOnce' } as never,
  );
  return command;
}
