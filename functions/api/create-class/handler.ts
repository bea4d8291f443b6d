import { apiHandler } from '../../shared/api.js';
import { createClassRoute } from './route.js';

export const handler = apiHandler(createClassRoute);
