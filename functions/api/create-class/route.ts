import type { APIGatewayProxyEvent } from 'aws-lambda';
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
import { labInputSchema } from '../../shared/lab-config.js';
import { createLab, runningWorkflow, workflowInput } from '../../shared/lab-lifecycle.js';
import { labIdSchema } from '../../shared/names.js';
import { classExecutionName } from '../../shared/workflow-starter.js';

export const createClassBodySchema = z
  .object({
    /** The labs are `<classId>-01`, `<classId>-02`, ...; short enough that every id stays a valid lab id. */
    classId: z
      .string()
      .min(2)
      .max(28)
      .regex(/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/, 'must be lowercase letters, digits and hyphens'),
    count: z.number().int().min(1),
    /** The provision options every lab of the class gets (the lab input without `labId`). */
    options: labInputSchema.omit({ labId: true }).prefault({}),
    clientRequestToken: requestTokenSchema.optional(),
    expiresInHours: z.number().int().min(1).optional(),
    nightlyReset: z.boolean().default(false),
  })
  .strict();

/** `cls`, 3 -> `cls-01`, `cls-02`, `cls-03` (three digits from 100 labs). */
export function classLabIds(classId: string, count: number): string[] {
  const width = Math.max(2, String(count).length);
  return Array.from({ length: count }, (_, i) => `${classId}-${String(i + 1).padStart(width, '0')}`);
}

/** One lab of a provision-class execution: provisioned under the execution name its record holds. */
export interface ClassItem {
  labId: string;
  executionName: string;
  input: unknown;
}

/** The provision-class execution's input: the labs, and how many provision at once. */
export interface ProvisionClassInput {
  classId: string;
  maxConcurrency: number;
  labs: ClassItem[];
}

/**
 * `POST /classes`: creates `count` labs with the same options (202 `{classId, labs}`); at most the
 * deployment's class size, and within the caps on labs in the account and in the class (429,
 * `checkLabCaps`). Each lab records the signed caller as `requestedBy`. Every lab id is checked before any is created (409 naming a lab that
 * exists under another request token). Each lab is recorded with its own execution name, then one
 * provision-class execution provisions them all through a Map, at most the deployment's class
 * concurrency at once. With a request token the whole call is idempotent: a replay answers the
 * same labs, and finishes a class cut short (its name depends only on the labs it provisions, so
 * a replay of a class whose start went through starts nothing new).
 */
export async function createClassRoute(event: APIGatewayProxyEvent, deps: ApiDeps): Promise<ApiReply> {
  const caller = requireCaller(event);
  const body = parseBody(event, createClassBodySchema);
  const token = requestTokenOf(event, body.clientRequestToken);
  checkPolicyMode(body.options.policyMode, deps, 'options.policyMode');
  if (body.count > deps.limits.maxClassSize) {
    throw new ApiError(400, 'InvalidRequest', `count: at most ${deps.limits.maxClassSize}`, 'count');
  }
  const expiresInHours = checkLifetime(body.expiresInHours, deps);
  const labIds = classLabIds(body.classId, body.count);
  for (const labId of labIds) {
    if (!labIdSchema.safeParse(labId).success)
      throw new ApiError(400, 'InvalidRequest', `classId: ${labId} is not a valid lab id`, 'classId');
  }
  const tokenOf = (labId: string) => (token ? `${token}:${labId}` : undefined);
  const existing = await Promise.all(labIds.map((labId) => deps.registry.labs.getLab(labId)));
  const taken = existing.find(
    (lab) => lab && lab.status !== 'deleted' && (!token || lab.clientRequestToken !== tokenOf(lab.labId)),
  );
  if (taken) {
    throw new ApiError(
      409,
      'LabExists',
      `lab ${taken.labId} already exists (${taken.status}); choose another classId`,
    );
  }
  await checkLabCaps(deps, labIds, body.classId);
  const owner = body.options.owner ?? caller;
  const labs: { labId: string; status: string }[] = [];
  const items: ClassItem[] = [];
  for (const labId of labIds) {
    const result = await createLab(deps, {
      options: { ...body.options, labId },
      owner,
      requestedBy: caller,
      classId: body.classId,
      clientRequestToken: tokenOf(labId),
      expiresInHours,
      nightlyReset: body.nightlyReset,
      start: false,
    });
    if (result.outcome === 'conflict') {
      throw new ApiError(409, 'LabExists', `lab ${labId} was created meanwhile by another request`);
    }
    labs.push({ labId, status: result.lab.status });
    // A replayed lab whose provisioning already ended is not started again.
    if (result.outcome === 'created' || runningWorkflow(result.lab, 'provision-lab')) {
      items.push({
        labId,
        executionName: result.lab.executionName,
        input: workflowInput(result.lab),
      });
    }
  }
  if (items.length > 0) {
    const input: ProvisionClassInput = {
      classId: body.classId,
      maxConcurrency: Math.min(deps.limits.maxClassConcurrency, items.length),
      labs: items,
    };
    await deps.starter.start('provision-class', input, classExecutionName(body.classId, items));
  }
  return { statusCode: 202, body: { classId: body.classId, labs } };
}
