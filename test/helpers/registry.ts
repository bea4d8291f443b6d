import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { ApiDeps } from '../../functions/shared/api.js';
import type { LabRecord } from '../../functions/shared/registry/lab-record.js';
import { LabRegistry } from '../../functions/shared/registry/lab-registry.js';
import type { StartableWorkflow, WorkflowStarter } from '../../functions/shared/workflow-starter.js';
import { awsError } from './aws-mock.js';

/** The table name unit tests give the registry. */
export const TABLE = 'labs';

/** The fixed "now" of unit tests: 2030-01-01T00:00:00Z. */
export const NOW = new Date('2030-01-01T00:00:00.000Z');
export const NOW_SECONDS = NOW.getTime() / 1000;

/** DynamoDB's answer to a failed condition, as the SDK raises it. */
export const conditionFailed = () =>
  awsError('ConditionalCheckFailedException', 'The conditional request failed');

/**
 * A registry over a fresh Document client; `mockClient(DynamoDBDocumentClient)` in the test file
 * intercepts its calls. The clock is fixed at NOW unless given.
 */
export function testRegistry(clock: () => Date = () => NOW): LabRegistry {
  const client = new DynamoDBClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    maxAttempts: 1,
  });
  return new LabRegistry(
    DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } }),
    TABLE,
    clock,
  );
}

/** A lab record as the registry returns it (no key attributes), with `overrides`. */
export function labRecord(overrides: Partial<LabRecord> = {}): LabRecord {
  const labId = overrides.labId ?? 'demo';
  return {
    labId,
    status: 'ready',
    generation: 1,
    executionName: `${labId}-g1-provision-20300101000000-abcd`,
    workflow: 'provision-lab',
    options: { labId, policyMode: 'strict' },
    steps: {},
    ledger: {},
    expiresAt: NOW_SECONDS + 3600,
    nightlyReset: false,
    createdAt: NOW.toISOString(),
    updatedAt: NOW.toISOString(),
    version: 3,
    ...overrides,
  };
}

/** The item DynamoDB holds for `lab` (what a GetCommand answers). */
export const labItem = (lab: LabRecord) => ({ pk: `lab#${lab.labId}`, kind: 'lab', ...lab });

export interface StartedWorkflow {
  name: StartableWorkflow;
  input: unknown;
  executionName: string;
}

/** A WorkflowStarter that records what it was asked to start (and can be told to fail). */
export class RecordingStarter implements WorkflowStarter {
  readonly started: StartedWorkflow[] = [];
  failWith?: Error;
  async start(name: StartableWorkflow, input: unknown, executionName: string) {
    if (this.failWith) throw this.failWith;
    this.started.push({ name, input, executionName });
    return {
      executionId: `arn:aws:states:us-east-1:123456789012:execution:session-lab-${name}:${executionName}`,
    };
  }
}

/** API dependencies for route tests: the given registry and starter, small limits, a fixed clock. */
export function testApiDeps(registry: LabRegistry, starter: WorkflowStarter): ApiDeps {
  return {
    registry,
    starter,
    clock: () => NOW,
    limits: { maxLabs: 8, maxClassSize: 5, maxClassConcurrency: 2, defaultLabHours: 72, maxLabHours: 240 },
  };
}

/** The signed caller of API test requests: the portal's role, as API Gateway's IAM authorization reports it. */
export const PORTAL_CALLER = 'arn:aws:sts::123456789012:assumed-role/portal/portal-session';

/**
 * An API Gateway REST proxy event for a route, as the deployed API (or `serve`) hands it over;
 * signed by PORTAL_CALLER unless `userArn` says otherwise (null: no caller identity at all).
 */
export function apiEvent(request: {
  method: string;
  resource: string;
  path?: string;
  pathParameters?: Record<string, string>;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: unknown;
  userArn?: string | null;
}): APIGatewayProxyEvent {
  const body =
    request.body === undefined
      ? null
      : typeof request.body === 'string'
        ? request.body
        : JSON.stringify(request.body);
  return {
    resource: request.resource,
    path: request.path ?? request.resource,
    httpMethod: request.method,
    headers: request.headers ?? {},
    multiValueHeaders: {},
    queryStringParameters: request.query ?? null,
    multiValueQueryStringParameters: request.query
      ? Object.fromEntries(Object.entries(request.query).map(([k, v]) => [k, [v]]))
      : null,
    pathParameters: request.pathParameters ?? null,
    stageVariables: null,
    body,
    isBase64Encoded: false,
    requestContext: {
      requestId: 'req-1',
      identity: { userArn: request.userArn === undefined ? PORTAL_CALLER : request.userArn, caller: null },
    },
  } as unknown as APIGatewayProxyEvent;
}

/** The status and parsed JSON body of an API result. */
export function replyOf(result: { statusCode: number; body: string }) {
  return { status: result.statusCode, body: JSON.parse(result.body) as Record<string, unknown> };
}
