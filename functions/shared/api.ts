import { randomUUID } from 'node:crypto';
import { SFNClient } from '@aws-sdk/client-sfn';
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import * as z from 'zod';
import { awsClient } from './clients.js';
import { readEnv } from './env.js';
import { ConfigurationError, InvalidLabInput } from './errors.js';
import { parseInput } from './input.js';
import { checkPolicyModeAllowed, policyModeEnvSchema } from './lab-config.js';
import type { LifecycleDeps } from './lab-lifecycle.js';
import { logger } from './logger.js';
import { labIdSchema } from './names.js';
import type { LabRecord } from './registry/lab-record.js';
import { requiredLabRegistry } from './registry/lab-registry.js';
import { withoutSecrets } from './registry/redaction.js';
import { sfnStarterFromEnv } from './workflow-starter.js';

/**
 * The training-portal API's plumbing, shared by every route in functions/api/: requests parsed
 * strictly (a bad body, path or query is a 400 naming the field, before anything is created),
 * errors as JSON `{code, message}` (with `field` for bad input), never a stack or a secret.
 */

/** Larger request bodies are refused before they are parsed. */
export const MAX_BODY_BYTES = 64 * 1024;

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const notFound = (labId: string) => new ApiError(404, 'LabNotFound', `no lab ${labId}`);

export interface ApiReply {
  statusCode: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface ApiLimits {
  /**
   * The most labs (any status but deleted) the account may hold: a create beyond it is 429
   * `LabLimitExceeded`. Checked before the write, so creates racing each other may pass it by a
   * few; it bounds what a portal can spend, it is not a lock.
   */
  maxLabs: number;
  /** The most labs a class may hold (one `POST /classes`, or its labs not deleted): 429 `ClassLimitExceeded` beyond. */
  maxClassSize: number;
  /** How many labs of a class provision at once (provision-class's Map MaxConcurrency). */
  maxClassConcurrency: number;
  /** A lab's lifetime when the request does not say. */
  defaultLabHours: number;
  maxLabHours: number;
  /** Whether lab input may select `policyMode: "seed"` (ALLOW_SEED_POLICY_MODE; absent: true). */
  allowSeedPolicyMode?: boolean;
}

export interface ApiDeps extends LifecycleDeps {
  limits: ApiLimits;
}

/** One route: the API Gateway proxy event in, a status and a JSON body out. */
export type ApiRoute = (event: APIGatewayProxyEvent, deps: ApiDeps) => Promise<ApiReply>;

const JSON_HEADERS = { 'content-type': 'application/json' };

function errorBody(err: unknown): { statusCode: number; body: Record<string, string> } {
  if (err instanceof ApiError) {
    return {
      statusCode: err.statusCode,
      body: { code: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) },
    };
  }
  if (err instanceof InvalidLabInput) {
    return { statusCode: 400, body: { code: 'InvalidRequest', message: err.message, field: err.field } };
  }
  if (err instanceof ConfigurationError) {
    logger.error('API misconfigured', { variable: err.variable });
    return { statusCode: 500, body: { code: 'ConfigurationError', message: 'the API is not configured' } };
  }
  logger.error('API request failed', { error: err as Error });
  return { statusCode: 500, body: { code: 'InternalError', message: 'internal error' } };
}

/** Runs `route`, answering its reply or its error as API Gateway proxy results. */
export async function respond(
  route: ApiRoute,
  event: APIGatewayProxyEvent,
  deps: ApiDeps,
): Promise<APIGatewayProxyResult> {
  try {
    const reply = await route(event, deps);
    return {
      statusCode: reply.statusCode,
      headers: { ...JSON_HEADERS, ...reply.headers },
      body: JSON.stringify(reply.body),
    };
  } catch (err) {
    const { statusCode, body } = errorBody(err);
    return { statusCode, headers: JSON_HEADERS, body: JSON.stringify(body) };
  }
}

/** The error answer for a request that never reached a route (unknown path, wrong method, too large). */
export function errorResult(err: ApiError): APIGatewayProxyResult {
  const { statusCode, body } = errorBody(err);
  return { statusCode, headers: JSON_HEADERS, body: JSON.stringify(body) };
}

/** A header's value, whatever its case. */
export function headerOf(event: Pick<APIGatewayProxyEvent, 'headers'>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === wanted && value !== undefined) return value;
  }
  return undefined;
}

/** Parses the JSON body with `schema`; no body counts as `{}`. */
export function parseBody<S extends z.ZodType>(event: APIGatewayProxyEvent, schema: S): z.output<S> {
  const raw = event.body ?? '';
  const text = event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  if (Buffer.byteLength(text, 'utf8') > MAX_BODY_BYTES) {
    throw new ApiError(400, 'InvalidRequest', `body: larger than ${MAX_BODY_BYTES} bytes`, 'body');
  }
  let value: unknown = {};
  if (text.trim() !== '') {
    try {
      value = JSON.parse(text);
    } catch {
      throw new ApiError(400, 'InvalidRequest', 'body: not valid JSON', 'body');
    }
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new ApiError(400, 'InvalidRequest', 'body: must be a JSON object', 'body');
  }
  return parseInput(schema, value);
}

/** A route that takes no body refuses one (an unknown field of sorts). */
export function refuseBody(event: APIGatewayProxyEvent): void {
  if ((event.body ?? '').trim() !== '') {
    throw new ApiError(400, 'InvalidRequest', 'body: this request takes no body', 'body');
  }
}

/** Parses the query string with `schema` (strict: an unknown parameter is named). */
export function parseQuery<S extends z.ZodType>(event: APIGatewayProxyEvent, schema: S): z.output<S> {
  for (const [name, values] of Object.entries(event.multiValueQueryStringParameters ?? {})) {
    if ((values?.length ?? 0) > 1) {
      throw new ApiError(400, 'InvalidRequest', `${name}: given more than once`, name);
    }
  }
  return parseInput(schema, event.queryStringParameters ?? {});
}

/** The `{labId}` path parameter, validated. */
export function labIdOfPath(event: APIGatewayProxyEvent): string {
  return parseInput(z.object({ labId: labIdSchema }).strict(), { labId: event.pathParameters?.labId }).labId;
}

/**
 * Who is asking: with IAM authorization API Gateway puts the signed caller in the request context
 * (`userArn`, the IAM user or assumed role's ARN; `caller`, its principal id when there is no ARN).
 * `session-lab serve` puts the local user there the same way. Never a body field: a body says what
 * the caller claims, the context who signed the request.
 */
export function callerOf(event: APIGatewayProxyEvent): string | undefined {
  const identity = event.requestContext?.identity;
  return identity?.userArn ?? identity?.caller ?? undefined;
}

/** The signed caller of a request that changes labs; none (the API is misdeployed) is a 403. */
export function requireCaller(event: APIGatewayProxyEvent): string {
  const caller = callerOf(event);
  if (!caller) {
    throw new ApiError(403, 'CallerUnknown', 'the request carries no signed caller identity');
  }
  return caller;
}

/**
 * Refuses, before anything is written, labs beyond the deployment's caps: `newLabIds` (the labs the
 * request would add; a replayed or existing one adds nothing) against the labs the account holds
 * (`MAX_LABS`) and, for a class, against its labs (`MAX_CLASS_SIZE`). 429, naming the cap.
 */
export async function checkLabCaps(deps: ApiDeps, newLabIds: string[], classId?: string): Promise<void> {
  const active = await deps.registry.labs.activeLabs();
  const adding = newLabIds.filter((labId) => !active.some((lab) => lab.labId === labId));
  if (adding.length === 0) return;
  if (active.length + adding.length > deps.limits.maxLabs) {
    throw new ApiError(
      429,
      'LabLimitExceeded',
      `the account holds ${active.length} labs; ${adding.length} more would pass the deployment's cap of ${deps.limits.maxLabs} (MAX_LABS)`,
    );
  }
  if (classId !== undefined) {
    const inClass = active.filter((lab) => lab.classId === classId).length;
    if (inClass + adding.length > deps.limits.maxClassSize) {
      throw new ApiError(
        429,
        'ClassLimitExceeded',
        `class ${classId} holds ${inClass} labs; ${adding.length} more would pass the deployment's cap of ${deps.limits.maxClassSize} per class (MAX_CLASS_SIZE)`,
      );
    }
  }
}

/** Refuses lab input with `policyMode: "seed"` when the deployment does not allow it (400 naming `field`). */
export function checkPolicyMode(policyMode: string | undefined, deps: ApiDeps, field = 'policyMode'): void {
  checkPolicyModeAllowed(policyMode, deps.limits.allowSeedPolicyMode ?? true, field);
}

/** A client request token: what makes a retried create answer the same lab instead of a 409. */
export const requestTokenSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_.:-]+$/, 'may contain only letters, digits and _ . : -');

/**
 * The token from the `Idempotency-Key` header or the body's `clientRequestToken`; both given
 * must agree.
 */
export function requestTokenOf(
  event: APIGatewayProxyEvent,
  fromBody: string | undefined,
): string | undefined {
  const header = headerOf(event, 'Idempotency-Key');
  if (header === undefined) return fromBody;
  const parsed = requestTokenSchema.safeParse(header);
  if (!parsed.success) {
    throw new ApiError(
      400,
      'InvalidRequest',
      `Idempotency-Key: ${parsed.error.issues[0]?.message}`,
      'Idempotency-Key',
    );
  }
  if (fromBody !== undefined && fromBody !== parsed.data) {
    throw new ApiError(
      400,
      'InvalidRequest',
      'Idempotency-Key: differs from the body’s clientRequestToken',
      'Idempotency-Key',
    );
  }
  return parsed.data;
}

/** The lab's lifetime in hours: the request's, within the deployment's maximum, or the default. */
export function checkLifetime(expiresInHours: number | undefined, deps: ApiDeps): number {
  const hours = expiresInHours ?? deps.limits.defaultLabHours;
  if (hours > deps.limits.maxLabHours) {
    throw new ApiError(
      400,
      'InvalidRequest',
      `expiresInHours: at most ${deps.limits.maxLabHours}`,
      'expiresInHours',
    );
  }
  return hours;
}

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

export const apiEnvSchema = z.object({
  MAX_LABS: positiveInt(100),
  MAX_CLASS_SIZE: positiveInt(30),
  MAX_CLASS_CONCURRENCY: positiveInt(10),
  DEFAULT_LAB_HOURS: positiveInt(72),
  MAX_LAB_HOURS: positiveInt(720),
  ...policyModeEnvSchema.shape,
});

export function apiLimitsFromEnv(env: NodeJS.ProcessEnv = process.env): ApiLimits {
  const parsed = readEnv(apiEnvSchema, env);
  return {
    maxLabs: parsed.MAX_LABS,
    maxClassSize: parsed.MAX_CLASS_SIZE,
    maxClassConcurrency: parsed.MAX_CLASS_CONCURRENCY,
    defaultLabHours: parsed.DEFAULT_LAB_HOURS,
    maxLabHours: parsed.MAX_LAB_HOURS,
    allowSeedPolicyMode: parsed.ALLOW_SEED_POLICY_MODE,
  };
}

/** Deployed dependencies: the registry from REGISTRY_TABLE, Step Functions from the ARNs in the environment. */
export function apiDepsFromEnv(env: NodeJS.ProcessEnv = process.env): ApiDeps {
  return {
    registry: requiredLabRegistry(env),
    starter: sfnStarterFromEnv(awsClient(SFNClient), env),
    limits: apiLimitsFromEnv(env),
  };
}

export type ApiHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

/**
 * The Lambda handler of one route: logger context, the environment validated at cold start
 * (`deps` is called once, when the module loads), every error answered as JSON.
 */
export function apiHandler(route: ApiRoute, deps: () => ApiDeps = apiDepsFromEnv): ApiHandler {
  let resolved: ApiDeps | undefined;
  let failure: unknown;
  try {
    resolved = deps();
  } catch (err) {
    failure = err;
  }
  return middy<APIGatewayProxyEvent, APIGatewayProxyResult, Error, Context>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .handler(async (event) => {
      logger.appendKeys({ requestId: event.requestContext?.requestId ?? randomUUID() });
      if (!resolved) return respond(() => Promise.reject(failure), event, {} as ApiDeps);
      return respond(route, event, resolved);
    });
}

const iso = (epochSeconds: number | undefined) =>
  epochSeconds === undefined ? undefined : new Date(epochSeconds * 1000).toISOString();

/** A lab as `GET /labs` lists it. */
export function labSummary(lab: LabRecord) {
  return {
    labId: lab.labId,
    status: lab.status,
    generation: lab.generation,
    ...(lab.currentStep ? { currentStep: lab.currentStep } : {}),
    ...(lab.owner ? { owner: lab.owner } : {}),
    ...(lab.requestedBy ? { requestedBy: lab.requestedBy } : {}),
    ...(lab.classId ? { classId: lab.classId } : {}),
    expiresAt: iso(lab.expiresAt),
    createdAt: lab.createdAt,
    updatedAt: lab.updatedAt,
  };
}

/**
 * A lab as `GET /labs/{labId}` shows it: status, per-step progress in the order the steps started,
 * the report, the failure, the resources it created. Registry items hold no secret; the report is
 * filtered once more on the way out all the same.
 */
export function labDetail(lab: LabRecord) {
  const steps = Object.values(lab.steps ?? {}).sort(
    (a, b) => a.startedAt.localeCompare(b.startedAt) || a.name.localeCompare(b.name),
  );
  return {
    ...labSummary(lab),
    steps,
    report: lab.report ? withoutSecrets(lab.report) : null,
    ...(lab.error ? { error: lab.error } : {}),
    resources: lab.ledger ?? {},
    options: lab.options,
    nightlyReset: lab.nightlyReset,
    ...(lab.resetAt !== undefined ? { nextResetAt: iso(lab.resetAt) } : {}),
    executionName: lab.executionName,
  };
}
