import type { APIGatewayProxyEvent } from 'aws-lambda';
import { labDetail, labIdOfPath, notFound, type ApiDeps, type ApiReply } from '../../shared/api.js';

/** `GET /labs/{labId}`: status, per-step progress, report, failure; 404 for a lab the registry never had. */
export async function getLabRoute(event: APIGatewayProxyEvent, deps: ApiDeps): Promise<ApiReply> {
  const labId = labIdOfPath(event);
  const lab = await deps.registry.labs.getLab(labId);
  if (!lab) throw notFound(labId);
  return { statusCode: 200, body: labDetail(lab) };
}
