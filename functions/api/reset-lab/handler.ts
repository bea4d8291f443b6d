import { apiHandler } from '../../shared/api.js';
import { resetLabRoute } from './route.js';

export const handler = apiHandler(resetLabRoute);
