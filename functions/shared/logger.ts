import { Logger } from '@aws-lambda-powertools/logger';

/** The one structured logger. Never log a secret value: log parameter names and ARNs instead. */
export const logger = new Logger({ serviceName: 'session-lab' });
