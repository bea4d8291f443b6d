import { apiHandler } from '../../shared/api.js';
import { listLabsRoute } from './route.js';

export const handler = apiHandler(listLabsRoute);
