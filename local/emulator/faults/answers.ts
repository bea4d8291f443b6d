import { AwsError } from '../protocol.js';
import type { FaultRate } from './options.js';

/** How an injected transient fault is decided (a seeded hash) and answered (each service's own error). */

/** 32-bit FNV-1a then a murmur finalizer: a uniform number in [0, 1) for a key. */
export function uniform(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 0x1_0000_0000;
}

export function shareFor(rate: FaultRate | undefined, service: string, operation: string): number {
  if (rate === undefined) return 0;
  if (typeof rate === 'number') return rate;
  return rate[`${service}:${operation}`] ?? rate[service] ?? rate['*'] ?? 0;
}

/** The throttling error each service answers with, and its HTTP status. */
export function throttlingError(service: string): AwsError {
  if (service === 'ec2') return new AwsError('RequestLimitExceeded', 'Request limit exceeded.', 503);
  if (service === 'iam' || service === 'sts') return new AwsError('Throttling', 'Rate exceeded', 400);
  return new AwsError('ThrottlingException', 'Rate exceeded', 400);
}

/** A 5xx as each service spells it; `unavailable` picks 503 over 500. */
export function serverError(service: string, unavailable: boolean): AwsError {
  const message = 'We encountered an internal error. Please try again.';
  if (unavailable) {
    if (service === 'ec2') return new AwsError('Unavailable', 'The server is overloaded.', 503);
    return new AwsError('ServiceUnavailable', 'Service is unavailable. Please try again.', 503);
  }
  if (service === 'ec2') return new AwsError('InternalError', message, 500);
  if (service === 'iam' || service === 'sts') return new AwsError('ServiceFailure', message, 500);
  if (service === 'secretsmanager') return new AwsError('InternalServiceError', message, 500);
  if (service === 'logs') return new AwsError('ServiceUnavailableException', message, 500);
  return new AwsError('InternalServerError', message, 500);
}
