import type { ApiRoute } from '../shared/api.js';
import { createClassRoute } from './create-class/route.js';
import { createLabRoute } from './create-lab/route.js';
import { deleteLabRoute } from './delete-lab/route.js';
import { getLabRoute } from './get-lab/route.js';
import { listLabsRoute } from './list-labs/route.js';
import { resetLabRoute } from './reset-lab/route.js';

export interface ApiRouteSpec {
  method: 'GET' | 'POST' | 'DELETE';
  /** The API Gateway resource path, as in openapi.yaml. */
  resource: string;
  /** The function folder under functions/api/ (bundle `api-<folder>`). */
  folder: string;
  route: ApiRoute;
}

/** Every route of the training-portal API: what openapi.yaml describes, infra deploys and `serve` serves. */
export const API_ROUTES: readonly ApiRouteSpec[] = [
  { method: 'POST', resource: '/labs', folder: 'create-lab', route: createLabRoute },
  { method: 'GET', resource: '/labs', folder: 'list-labs', route: listLabsRoute },
  { method: 'GET', resource: '/labs/{labId}', folder: 'get-lab', route: getLabRoute },
  { method: 'DELETE', resource: '/labs/{labId}', folder: 'delete-lab', route: deleteLabRoute },
  { method: 'POST', resource: '/labs/{labId}/reset', folder: 'reset-lab', route: resetLabRoute },
  { method: 'POST', resource: '/classes', folder: 'create-class', route: createClassRoute },
];
