import { CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { IAMClient } from '@aws-sdk/client-iam';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import { ConfigurationError } from './errors.js';

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

type ClientClass<T> = new (config: ClientConfig) => T;

const cache = new Map<ClientClass<unknown>, unknown>();

/**
 * One client per class per container, created on first use and reused across warm invocations.
 * A single generic factory instead of one hand-written getter per service.
 */
export function awsClient<T>(Client: ClientClass<T>): T {
  let client = cache.get(Client) as T | undefined;
  if (!client) {
    client = new Client(clientConfig());
    cache.set(Client, client);
  }
  return client;
}

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
  secrets: SecretsManagerClient;
  sfn: SFNClient;
  ssm: SSMClient;
  sts: STSClient;
}

const clientClasses: { [K in keyof LabClients]: ClientClass<LabClients[K]> } = {
  cloudtrail: CloudTrailClient,
  dynamodb: DynamoDBClient,
  ec2: EC2Client,
  events: EventBridgeClient,
  iam: IAMClient,
  logs: CloudWatchLogsClient,
  secrets: SecretsManagerClient,
  sfn: SFNClient,
  ssm: SSMClient,
  sts: STSClient,
};

/** The cached clients as a lazy object: only the services a handler touches are constructed. */
export function labClients(): LabClients {
  const lazy = {} as LabClients;
  for (const [key, Client] of Object.entries(clientClasses) as [keyof LabClients, ClientClass<unknown>][]) {
    Object.defineProperty(lazy, key, { enumerable: true, get: () => awsClient(Client) });
  }
  return lazy;
}
