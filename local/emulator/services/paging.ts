import { AwsError } from '../protocol.js';

/** Paging and range checks shared by the emulator's own list operations, as AWS words them. */

/** The SDK's validation message for an out-of-range number (smithy constraint). */
export function rangeError(field: string, value: number, min: number, max: number): AwsError {
  const bound = value < min ? `greater than or equal to ${min}` : `less than or equal to ${max}`;
  return new AwsError(
    'ValidationException',
    `1 validation error detected: Value '${value}' at '${field}' failed to satisfy constraint: Member must have value ${bound}`,
  );
}

/** Opaque page tokens: the offset plus the operation they belong to, so a foreign token is refused. */
export function encodeToken(scope: string, offset: number): string {
  return Buffer.from(JSON.stringify({ scope, offset })).toString('base64');
}

export function decodeToken(scope: string, token: unknown): number {
  if (token === undefined || token === null || token === '') return 0;
  try {
    const parsed = JSON.parse(Buffer.from(String(token), 'base64').toString('utf8')) as {
      scope?: string;
      offset?: number;
    };
    if (parsed.scope === scope && Number.isInteger(parsed.offset) && parsed.offset! >= 0)
      return parsed.offset!;
  } catch {
    // Falls through to the error below.
  }
  throw new AwsError('InvalidNextToken', 'The specified token is not valid.');
}

/**
 * The page of `items` at `offset` (from `decodeToken(scope, ...)`, read before the items so a bad
 * token is refused first) and, when more follow, the token of the next page.
 */
export function pageAt<T>(
  items: T[],
  scope: string,
  offset: number,
  maxResults: number,
): { page: T[]; nextToken?: string } {
  const page = items.slice(offset, offset + maxResults);
  return offset + maxResults < items.length
    ? { page, nextToken: encodeToken(scope, offset + maxResults) }
    : { page };
}
