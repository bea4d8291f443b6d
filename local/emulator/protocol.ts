import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { XMLBuilder } from 'fast-xml-parser';

/**
 * The wire protocols the emulator answers in: awsJson (SSM, CloudWatch Logs, CloudTrail, ...) and
 * the query protocols (IAM and EC2 differ in their XML). Handlers see parsed input and return plain
 * objects; this module turns them into what the AWS SDK expects, errors included.
 */

export interface RawRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface AwsCall {
  /** The SigV4 signing name: `ssm`, `iam`, `ec2`, `logs`, `cloudtrail`, ... */
  service: string;
  operation: string;
  region: string;
  /** The caller's access key id, which identifies the principal (see identity handling in services). */
  accessKeyId?: string;
  protocol: 'json' | 'query';
  // Inputs are AWS-shaped data; each handler narrows what it reads.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  input: any;
  raw: RawRequest;
}

/** A reply sent as is (moto's own answer, forwarded). */
export class RawReply {
  constructor(
    readonly status: number,
    readonly headers: Record<string, string>,
    readonly body: Buffer | string,
  ) {}
}

/** An AWS error: `code` becomes the SDK error's `name`. */
export class AwsError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = code;
  }
}

/** The signing parts of an `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`. */
export interface SignedScope {
  accessKeyId: string;
  /** The credential scope's date, yyyymmdd. */
  date: string;
  region: string;
  service: string;
  /** Undefined when the header lacks the part (an incomplete signature). */
  signedHeaders?: string[];
  signature?: string;
}

/** The one reading of the credential scope: `<key id>/<yyyymmdd>/<region>/<service>/aws4_request`. */
const CREDENTIAL = /Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request/;
const SIGNED_HEADERS = /SignedHeaders=([^,\s]+)/;
const SIGNATURE = /Signature=([^,\s]+)/;

/** The signing parts of a request's Authorization header; undefined when it names no credential. */
export function signedScope(raw: Pick<RawRequest, 'headers'>): SignedScope | undefined {
  const header = String(raw.headers.authorization ?? '');
  const match = CREDENTIAL.exec(header);
  if (!match) return undefined;
  const [, accessKeyId, date, region, service] = match as unknown as [string, string, string, string, string];
  return {
    accessKeyId,
    date,
    region,
    service,
    signedHeaders: SIGNED_HEADERS.exec(header)?.[1]?.split(';'),
    signature: SIGNATURE.exec(header)?.[1],
  };
}

/** Reads service, region, operation and input from a signed SDK request; undefined if it is not one. */
export function parseCall(raw: RawRequest): AwsCall | undefined {
  const scope = signedScope(raw);
  if (!scope) return undefined;
  const { accessKeyId, region, service } = scope;
  const target = raw.headers['x-amz-target'];
  if (typeof target === 'string') {
    const operation = target.slice(target.lastIndexOf('.') + 1);
    const text = raw.body.toString('utf8');
    return {
      service,
      region,
      accessKeyId,
      operation,
      protocol: 'json',
      input: text ? JSON.parse(text) : {},
      raw,
    };
  }
  const contentType = String(raw.headers['content-type'] ?? '');
  if (raw.method === 'POST' && contentType.startsWith('application/x-www-form-urlencoded')) {
    const input = parseQueryParams(new URLSearchParams(raw.body.toString('utf8')));
    const operation = String(input.Action ?? '');
    return { service, region, accessKeyId, operation, protocol: 'query', input, raw };
  }
  return undefined;
}

/**
 * Turns flattened query parameters (`ActionNames.member.1=x`, `TagSpecification.1.Tag.1.Key=k`)
 * into nested objects and arrays, the shape the JSON protocols already have.
 */
export function parseQueryParams(params: URLSearchParams): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [key, value] of params) {
    const path = key.split('.').filter((part) => part !== 'member');
    let node: Record<string, unknown> | unknown[] = root;
    path.forEach((part, i) => {
      const last = i === path.length - 1;
      const index = /^\d+$/.test(part) ? Number(part) - 1 : undefined;
      const container = node as Record<string | number, unknown>;
      const slot = index ?? part;
      if (last) {
        container[slot] = value;
        return;
      }
      const nextIsIndex = /^\d+$/.test(path[i + 1]!);
      container[slot] ??= nextIsIndex ? [] : {};
      node = container[slot] as Record<string, unknown> | unknown[];
    });
  }
  return root;
}

const requestId = () => randomUUID();

export function jsonReply(output: unknown): RawReply {
  return new RawReply(200, { 'content-type': 'application/x-amz-json-1.1' }, JSON.stringify(output ?? {}));
}

const xml = new XMLBuilder({ ignoreAttributes: false, suppressEmptyNode: false, processEntities: true });

/** Lists become repeated `<member>` (IAM) or `<item>` (EC2) elements. */
function wrapLists(value: unknown, itemName: string): unknown {
  if (Array.isArray(value)) return { [itemName]: value.map((v) => wrapLists(v, itemName)) };
  if (value instanceof Date) return value.toISOString();
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, wrapLists(v, itemName)]));
  }
  return value;
}

export const IAM_NAMESPACE = 'https://iam.amazonaws.com/doc/2010-05-08/';
export const STS_NAMESPACE = 'https://sts.amazonaws.com/doc/2011-06-15/';

/**
 * An IAM-style query reply: `<OpResponse><OpResult>…</OpResult><ResponseMetadata/></OpResponse>`.
 * STS answers in the same shape under its own namespace.
 */
export function iamReply(operation: string, result: unknown, namespace = IAM_NAMESPACE): RawReply {
  const body = xml.build({
    [`${operation}Response`]: {
      '@_xmlns': namespace,
      [`${operation}Result`]: wrapLists(result ?? {}, 'member'),
      ResponseMetadata: { RequestId: requestId() },
    },
  });
  return new RawReply(200, { 'content-type': 'text/xml' }, body);
}

/** An EC2-style reply: fields directly under `<OpResponse>`, lists as `<item>`. */
export function ec2Reply(operation: string, result: Record<string, unknown>): RawReply {
  const body = xml.build({
    [`${operation}Response`]: {
      '@_xmlns': 'http://ec2.amazonaws.com/doc/2016-11-15/',
      requestId: requestId(),
      ...(wrapLists(result, 'item') as Record<string, unknown>),
    },
  });
  return new RawReply(200, { 'content-type': 'text/xml' }, body);
}

/** The error body each protocol's SDK deserializer reads the code from. */
export function errorReply(call: Pick<AwsCall, 'protocol' | 'service'>, err: AwsError): RawReply {
  if (call.protocol === 'json') {
    return new RawReply(
      err.status,
      { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': err.code },
      JSON.stringify({ __type: err.code, message: err.message }),
    );
  }
  const body =
    call.service === 'ec2'
      ? xml.build({
          Response: { Errors: { Error: { Code: err.code, Message: err.message } }, RequestID: requestId() },
        })
      : xml.build({
          ErrorResponse: {
            Error: { Type: err.status >= 500 ? 'Receiver' : 'Sender', Code: err.code, Message: err.message },
            RequestId: requestId(),
          },
        });
  return new RawReply(err.status, { 'content-type': 'text/xml' }, body);
}
