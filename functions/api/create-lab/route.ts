import * as z from 'zod';
import {
  ApiError,
  checkLabCaps,
  checkPolicyMode,
  checkLifetime,
  parseBody,
  requestTokenOf,
  requireCaller,
  requestTokenSchema,
  type ApiDeps,
  type ApiReply,
} from '../../shared/api.js';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { labInputSchema } from '../../shared/lab-config.js';
import { createLab } from '../../shared/lab-lifecycle.js';

/** `POST /labs`: the provision input plus how long the lab lives and whether it is reset nightly. */
export const createLabBodySchema = labInputSchema.extend({
  clientRequestToken: requestTokenSchema.optional(),
  /** Hours until the lab is torn down by the schedule (default and maximum: the deployment's limits). */
  expiresInHours: z.number().int().min(1).optional(),
  nightlyReset: z.boolean().default(false),
});

/** The lifecycle fields of a create request and its lab options, apart. */
export function splitCreateBody(body: z.output<typeof createLabBodySchema>) {
  const { clientRequestToken, expiresInHours, nightlyReset, ...options } = body;
  return { clientRequestToken, expiresInHours, nightlyReset, options };
}

/**
 * Creates a lab and starts provisioning it: 202 `{labId, status}`. Idempotent by the client
 * request token (`Idempotency-Key` header or `clientRequestToken`): the same token answers the same
 * lab; a lab that exists under another token (or none) is a 409. Everything is validated before
 * anything is written; a new lab past the account's cap is a 429 (`checkLabCaps`). The lab records
 * the signed caller as `requestedBy`; `owner` is the body's free text, else that caller.
 */
export async function createLabRoute(event: APIGatewayProxyEvent, deps: ApiDeps): Promise<ApiReply> {
  const caller = requireCaller(event);
  const body = splitCreateBody(parseBody(event, createLabBodySchema));
  const token = requestTokenOf(event, body.clientRequestToken);
  checkPolicyMode(body.options.policyMode, deps);
  const expiresInHours = checkLifetime(body.expiresInHours, deps);
  await checkLabCaps(deps, [body.options.labId]);
  const result = await createLab(deps, {
    options: body.options,
    owner: body.options.owner ?? caller,
    requestedBy: caller,
    clientRequestToken: token,
    expiresInHours,
    nightlyReset: body.nightlyReset,
  });
  const { labId, status } = result.lab;
  if (result.outcome === 'conflict') {
    throw new ApiError(
      409,
      'LabExists',
      `lab ${labId} already exists (${status}) and was created with another client request token`,
    );
  }
  return { statusCode: 202, body: { labId, status }, headers: { location: `/labs/${labId}` } };
}
