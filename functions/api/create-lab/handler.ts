import { apiHandler } from '../../shared/api.js';
import { createLabRoute } from './route.js';

export const handler = apiHandler(createLabRoute);
