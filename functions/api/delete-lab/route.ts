import type { APIGatewayProxyEvent } from 'aws-lambda';
import {
  ApiError,
  labIdOfPath,
  notFound,
  refuseBody,
  type ApiDeps,
  type ApiReply,
} from '../../shared/api.js';
import { teardownLab } from '../../shared/lab-lifecycle.js';

/**
 * `DELETE /labs/{labId}`: tears the lab down (202, `tearing-down`, ending `deleted`). Idempotent: a
 * lab already tearing down or deleted answers 202 with its status. A lab still provisioning is a
 * 409: tearing it down under the running provision would race it.
 */
export async function deleteLabRoute(event: APIGatewayProxyEvent, deps: ApiDeps): Promise<ApiReply> {
  const labId = labIdOfPath(event);
  refuseBody(event);
  const result = await teardownLab(deps, labId);
  if (result.outcome === 'not-found') throw notFound(labId);
  if (result.outcome === 'busy') {
    throw new ApiError(
      409,
      'LabBusy',
      `lab ${labId} is ${result.lab.status}; delete it once it is ready or failed`,
    );
  }
  return { statusCode: 202, body: { labId, status: result.lab.status } };
}
