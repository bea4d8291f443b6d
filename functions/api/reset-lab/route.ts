import type { APIGatewayProxyEvent } from 'aws-lambda';
import * as z from 'zod';
import { ApiError, labIdOfPath, notFound, parseBody, type ApiDeps, type ApiReply } from '../../shared/api.js';
import { resetLab } from '../../shared/lab-lifecycle.js';

/**
 * `POST /labs/{labId}/reset`: a ready or failed lab is torn down and provisioned again as a new
 * generation (202). Asking again while that reset runs answers 202 too; a lab busy with another
 * workflow is a 409.
 */
export async function resetLabRoute(event: APIGatewayProxyEvent, deps: ApiDeps): Promise<ApiReply> {
  const labId = labIdOfPath(event);
  parseBody(event, z.object({}).strict());
  const result = await resetLab(deps, labId);
  if (result.outcome === 'not-found') throw notFound(labId);
  if (result.outcome === 'busy') {
    throw new ApiError(
      409,
      'LabBusy',
      `lab ${labId} is ${result.lab.status}; reset it once it is ready or failed`,
    );
  }
  return { statusCode: 202, body: { labId, status: result.lab.status, generation: result.lab.generation } };
}
