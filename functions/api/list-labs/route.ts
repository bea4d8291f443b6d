import type { APIGatewayProxyEvent } from 'aws-lambda';
import * as z from 'zod';
import {
  ApiError,
  labSummary,
  parseQuery,
  refuseBody,
  type ApiDeps,
  type ApiReply,
} from '../../shared/api.js';
import { labIdSchema } from '../../shared/names.js';
import { LAB_STATUSES } from '../../shared/registry/lab-record.js';
import { REGISTRY_KEY } from '../../shared/registry/table.js';

export const listLabsQuerySchema = z
  .object({
    status: z.enum(LAB_STATUSES).optional(),
    owner: z.string().min(1).max(2048).optional(),
    classId: z.string().min(1).max(32).optional(),
    limit: z
      .string()
      .regex(/^\d{1,3}$/, 'must be a whole number from 1 to 100')
      .transform(Number)
      .pipe(z.number().int().min(1, 'must be at least 1').max(100, 'must be at most 100'))
      .optional(),
    nextToken: z.string().max(512).optional(),
  })
  .strict();

/** The page token is the registry's last key, base64url JSON; only a lab key is accepted back. */
export const encodePageToken = (key: Record<string, unknown>) =>
  Buffer.from(JSON.stringify(key)).toString('base64url');

export function decodePageToken(token: string): Record<string, unknown> {
  try {
    const key = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Record<string, unknown>;
    const pk = key[REGISTRY_KEY];
    const keys = Object.keys(key);
    if (
      keys.length === 1 &&
      typeof pk === 'string' &&
      pk.startsWith('lab#') &&
      labIdSchema.safeParse(pk.slice(4)).success
    )
      return key;
  } catch {
    // refused below
  }
  throw new ApiError(400, 'InvalidRequest', 'nextToken: not a token this API gave out', 'nextToken');
}

/** `GET /labs`: the labs, optionally by status, owner or class, a page at a time (`nextToken`). */
export async function listLabsRoute(event: APIGatewayProxyEvent, deps: ApiDeps): Promise<ApiReply> {
  const query = parseQuery(event, listLabsQuerySchema);
  refuseBody(event);
  const page = await deps.registry.labs.listLabs(
    { status: query.status, owner: query.owner, classId: query.classId },
    { limit: query.limit ?? 50, startKey: query.nextToken ? decodePageToken(query.nextToken) : undefined },
  );
  return {
    statusCode: 200,
    body: {
      labs: page.labs.map(labSummary),
      ...(page.nextKey ? { nextToken: encodePageToken(page.nextKey) } : {}),
    },
  };
}
