import { apiHandler } from '../../shared/api.js';
import { getLabRoute } from './route.js';

export const handler = apiHandler(getLabRoute);
