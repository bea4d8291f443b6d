import { createHash, timingSafeEqual } from 'node:crypto';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import { ADMIN_CREDENTIALS, type EmulatorContext } from '../context.js';
import {
  AwsError,
  RawReply,
  errorReply,
  signedScope,
  type AwsCall,
  type RawRequest,
  type SignedScope,
} from '../protocol.js';
import { roleSessionOf } from '../services/role-sessions.js';
import { invalidToken } from './errors.js';

/**
 * SigV4 as AWS checks it: the signature of every AWS request the emulator receives is computed
 * again with the secret the emulator knows for the access key id and compared with the one sent.
 * The secrets it knows: the admin credentials (context.ts), the role sessions it issued
 * (role-sessions.ts), and the IAM user keys created through it (CreateAccessKey's answer, which
 * carries the only copy of the secret). Requests the emulator sends moto itself never come here.
 *
 * Not checked: the request's age (X-Amz-Date may be any time: the benchmark's virtual clock moves
 * the emulator's `Date` hours ahead of the simulated hosts' processes, which sign with the real
 * one), presigned URLs (nothing in the product uses one; a request signed only in its query is
 * refused as unsigned) and SigV4a.
 */

/** The protocol a refusal is written in, read from the request as parseCall reads it. */
function protocolOf(raw: RawRequest, service: string): Pick<AwsCall, 'protocol' | 'service'> {
  const form = String(raw.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
  const query = (raw.method === 'POST' && form && !raw.headers['x-amz-target']) || service === 's3';
  return { protocol: query ? 'query' : 'json', service };
}

/** The wording each protocol's AWS endpoints answer an unsigned, half-signed or missigned request with. */
function missingToken(call: Pick<AwsCall, 'protocol' | 'service'>): AwsError {
  return call.protocol === 'json'
    ? new AwsError('MissingAuthenticationTokenException', 'Missing Authentication Token', 400)
    : new AwsError('MissingAuthenticationToken', 'Request is missing Authentication Token', 403);
}

function incompleteSignature(call: Pick<AwsCall, 'protocol' | 'service'>, missing: string): AwsError {
  const message = `Authorization header requires '${missing}' parameter.`;
  return call.protocol === 'json'
    ? new AwsError('IncompleteSignatureException', message, 400)
    : new AwsError('IncompleteSignature', message, 400);
}

const MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your AWS ' +
  'Secret Access Key and signing method. Consult the service documentation for details.';

function signatureMismatch(call: Pick<AwsCall, 'protocol' | 'service'>): AwsError {
  if (call.service === 'ec2')
    return new AwsError('AuthFailure', 'AWS was not able to validate the provided access credentials', 401);
  // The awsJson services (SSM, Logs, DynamoDB, KMS, ...) name it InvalidSignatureException.
  if (call.protocol === 'json') return new AwsError('InvalidSignatureException', MISMATCH, 400);
  return new AwsError('SignatureDoesNotMatch', MISMATCH, 403);
}

/** IAM user keys' secrets, recorded from CreateAccessKey's answers (see `rememberIssuedKey`). */
const iamSecrets = (ctx: EmulatorContext) =>
  ctx.slice('signature:iam-secrets', () => new Map<string, string>());

/** The secret the emulator knows for a key id, or undefined when it never issued or accepted it. */
function secretOf(ctx: EmulatorContext, accessKeyId: string): string | undefined {
  return (
    ADMIN_CREDENTIALS.find((c) => c.accessKeyId === accessKeyId)?.secretAccessKey ??
    roleSessionOf(ctx, accessKeyId)?.secretAccessKey ??
    iamSecrets(ctx).get(accessKeyId)
  );
}

/**
 * Keeps the secret of a key IAM just issued: moto answers it once, in CreateAccessKey's reply, as
 * AWS does, and never again.
 */
export function rememberIssuedKey(ctx: EmulatorContext, call: AwsCall, reply: RawReply): void {
  if (call.service !== 'iam' || call.operation !== 'CreateAccessKey' || reply.status !== 200) return;
  const body = String(reply.body);
  const id = /<AccessKeyId>([^<]+)<\/AccessKeyId>/.exec(body)?.[1];
  const secret = /<SecretAccessKey>([^<]+)<\/SecretAccessKey>/.exec(body)?.[1];
  if (id && secret) iamSecrets(ctx).set(id, secret);
}

/** `path?a=1&b=2` as the signer takes it: the path as sent, the query decoded into its values. */
function splitUrl(url: string): { path: string; query: Record<string, string | string[]> } {
  const at = url.indexOf('?');
  const query: Record<string, string | string[]> = {};
  if (at >= 0) {
    for (const pair of url.slice(at + 1).split('&')) {
      if (!pair) continue;
      const eq = pair.indexOf('=');
      const decode = (s: string) => decodeURIComponent(s.replace(/\+/g, '%20'));
      const key = decode(eq < 0 ? pair : pair.slice(0, eq));
      const value = eq < 0 ? '' : decode(pair.slice(eq + 1));
      const seen = query[key];
      query[key] = seen === undefined ? value : [...(Array.isArray(seen) ? seen : [seen]), value];
    }
  }
  return { path: at >= 0 ? url.slice(0, at) : url, query };
}

/** `20260101T000000Z` -> its Date; undefined when it is not one. */
function amzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  return m ? new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`) : undefined;
}

const sha256Hex = (body: Buffer) => createHash('sha256').update(body).digest('hex');

/** The signature `scope` yields for `raw` under `secretAccessKey`, as the SDK's signer computes it. */
async function expectedSignature(
  raw: RawRequest,
  scope: SignedScope & { signedHeaders: string[] },
  secretAccessKey: string,
  signingDate: Date,
): Promise<string> {
  const headers: Record<string, string> = {};
  for (const name of scope.signedHeaders) {
    const value = raw.headers[name];
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const { path, query } = splitUrl(raw.url);
  const signer = new SignatureV4({
    credentials: { accessKeyId: scope.accessKeyId, secretAccessKey },
    region: scope.region,
    service: scope.service,
    sha256: Sha256,
    // S3 signs its path as sent; every other service escapes it once more.
    uriEscapePath: scope.service !== 's3',
    // Only what the client signed: the signer adds no content hash header of its own.
    applyChecksum: false,
  });
  const signed = await signer.sign(
    { method: raw.method, protocol: 'http:', hostname: '', path, query, headers, body: raw.body },
    {
      signingDate,
      signingRegion: scope.region,
      signingService: scope.service,
      // Every header the client listed, even one the signer would leave out (User-Agent).
      signableHeaders: new Set(scope.signedHeaders),
    },
  );
  return signedScope(signed)?.signature ?? '';
}

/**
 * Refuses a request (not a control endpoint's) whose signature the emulator cannot verify: none
 * (MissingAuthenticationToken), one missing a part (IncompleteSignature), a key id it does not
 * know (InvalidClientTokenId, UnrecognizedClientException, AuthFailure), or one that does not
 * match the body, path, query and signed headers under that key's secret. Undefined when it is
 * signed as AWS would accept it.
 */
export async function signatureRefusal(ctx: EmulatorContext, raw: RawRequest): Promise<RawReply | undefined> {
  const scope = signedScope(raw);
  const call = protocolOf(raw, scope?.service ?? '');
  const refuse = (err: AwsError) => errorReply(call, err);
  if (!scope) {
    const header = String(raw.headers.authorization ?? '');
    return refuse(header ? incompleteSignature(call, 'Credential') : missingToken(call));
  }
  if (!scope.signedHeaders) return refuse(incompleteSignature(call, 'SignedHeaders'));
  if (!scope.signature) return refuse(incompleteSignature(call, 'Signature'));
  const signingDate = amzDate(String(raw.headers['x-amz-date'] ?? ''));
  if (!signingDate) return refuse(incompleteSignature(call, 'X-Amz-Date'));
  const secret = secretOf(ctx, scope.accessKeyId);
  if (secret === undefined) return refuse(invalidToken(call));
  // A signed content hash stands for the body only if it is the body's.
  const claimed = raw.headers['x-amz-content-sha256'];
  if (typeof claimed === 'string' && /^[0-9a-f]{64}$/.test(claimed) && claimed !== sha256Hex(raw.body))
    return refuse(
      call.service === 's3'
        ? new AwsError(
            'XAmzContentSHA256Mismatch',
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
            400,
          )
        : signatureMismatch(call),
    );
  const expected = await expectedSignature(
    raw,
    { ...scope, signedHeaders: scope.signedHeaders },
    secret,
    signingDate,
  );
  const matches =
    expected.length === scope.signature.length &&
    timingSafeEqual(Buffer.from(expected), Buffer.from(scope.signature));
  return matches ? undefined : refuse(signatureMismatch(call));
}
