import { apiHandler } from '../../shared/api.js';
import { deleteLabRoute } from './route.js';

export const handler = apiHandler(deleteLabRoute);
