import { randomUUID } from 'node:crypto';
import { EMULATOR_CREDENTIALS, type EmulatorContext } from '../context.js';
import { AwsError } from '../protocol.js';
import type { ContextValues } from '../services/iam-simulation/policies.js';
import { arn } from './arns.js';
import type { AuthRequest, Refusal } from './model.js';

/**
 * KMS as AWS enforces it. A key's policy is the root of trust: identity policies count only where
 * the key policy delegates to the account (`"Principal": {"AWS": "arn:aws:iam::<account>:root"}`),
 * which iam-simulate's KMS authorizer models once the key policy is given as the resource policy.
 *
 * Services that encrypt for their caller (Parameter Store, Secrets Manager) call KMS with the
 * caller's own identity (a forward access session): the caller must be allowed the KMS action on
 * the key, with kms:ViaService naming the service, kms:CallerAccount, the service's encryption
 * context, and aws:ViaAWSService true. CloudWatch Logs uses a log group's key as its own service
 * principal, so only the key policy can allow it.
 *
 * moto keeps keys and their policies but enforces none of this, and creates the AWS managed keys
 * (alias/aws/ssm, alias/aws/secretsmanager) as ordinary keys with the default policy; the emulator
 * gives those AWS's managed-key policy instead.
 */

/** The service principal's first label for each AWS managed key alias (alias/aws/<name>). */
const MANAGED_KEY_SERVICE: Record<string, string> = { ebs: 'ec2' };

export interface KeyFacts {
  arn: string;
  keyId: string;
  /** `alias/aws/<name>` when this is an AWS managed key. */
  managedAlias?: string;
  policy: string;
}

const managedOf = (ctx: EmulatorContext) =>
  ctx.slice('authorization:kms-managed', () => new Map<string, string | undefined>());

/**
 * AWS's policy for an AWS managed key: every principal of the account may use the key for
 * cryptographic operations through the one service (kms:ViaService, kms:CallerAccount); the
 * account may read its metadata directly.
 */
export function managedKeyPolicy(alias: string, region: string, account: string): string {
  const name = alias.replace(/^alias\/aws\//, '');
  const service = MANAGED_KEY_SERVICE[name] ?? name;
  return JSON.stringify({
    Version: '2012-10-17',
    Id: `auto-${name}`,
    Statement: [
      {
        Sid: `Allow access through ${service} for all principals in the account that are authorized to use ${service}`,
        Effect: 'Allow',
        Principal: { AWS: '*' },
        Action: [
          'kms:Encrypt',
          'kms:Decrypt',
          'kms:ReEncrypt*',
          'kms:GenerateDataKey*',
          'kms:CreateGrant',
          'kms:DescribeKey',
        ],
        Resource: '*',
        Condition: {
          StringEquals: {
            'kms:CallerAccount': account,
            'kms:ViaService': `${service}.${region}.amazonaws.com`,
          },
        },
      },
      {
        Sid: 'Allow direct access to key metadata to the account',
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${account}:root` },
        Action: ['kms:Describe*', 'kms:Get*', 'kms:List*', 'kms:RevokeGrant'],
        Resource: '*',
      },
    ],
  });
}

/**
 * One KMS call to moto as the emulator (awsJson 1.1; the project carries no KMS client). moto
 * routes on the credential scope and does not check the signature.
 */
async function motoKms<T>(
  ctx: EmulatorContext,
  region: string,
  operation: string,
  input: unknown,
): Promise<T> {
  const date = new Date().toISOString().slice(0, 10).replace(/-/g, '');
  const res = await fetch(`${ctx.motoUrl}/`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': `TrentService.${operation}`,
      authorization:
        `AWS4-HMAC-SHA256 Credential=${EMULATOR_CREDENTIALS.accessKeyId}/${date}/${region}/kms/aws4_request, ` +
        'SignedHeaders=host, Signature=0',
    },
    body: JSON.stringify(input),
  });
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) {
    const code = String(body.__type ?? res.headers.get('x-amzn-errortype') ?? 'InternalFailure');
    throw new AwsError(
      code.slice(code.lastIndexOf('#') + 1),
      String(body.message ?? body.Message ?? ''),
      res.status,
    );
  }
  return body as T;
}

interface KeyMetadata {
  Arn?: string;
  KeyId?: string;
  AWSAccountId?: string;
}

/**
 * A key named by id, key ARN, alias name or alias ARN: its ARN and the policy KMS evaluates.
 * Undefined when the key does not exist (moto: NotFoundException).
 */
export async function readKey(
  ctx: EmulatorContext,
  region: string,
  keyId: string,
): Promise<KeyFacts | undefined> {
  let metadata: KeyMetadata | undefined;
  try {
    ({ KeyMetadata: metadata } = await motoKms<{ KeyMetadata?: KeyMetadata }>(ctx, region, 'DescribeKey', {
      KeyId: keyId,
    }));
  } catch (err) {
    if ((err as Error).name === 'NotFoundException') return undefined;
    throw err;
  }
  if (!metadata?.Arn || !metadata.KeyId) return undefined;
  const managed = managedOf(ctx);
  if (!managed.has(metadata.Arn)) {
    // Which keys are AWS managed never changes: an alias/aws/ name is reserved to them.
    const { Aliases } = await motoKms<{ Aliases?: { AliasName?: string }[] }>(ctx, region, 'ListAliases', {
      KeyId: metadata.KeyId,
    });
    managed.set(metadata.Arn, Aliases?.find((a) => a.AliasName?.startsWith('alias/aws/'))?.AliasName);
  }
  const managedAlias = managed.get(metadata.Arn);
  const account = metadata.AWSAccountId ?? ctx.accountId;
  const policy = managedAlias
    ? managedKeyPolicy(managedAlias, region, account)
    : ((
        await motoKms<{ Policy?: string }>(ctx, region, 'GetKeyPolicy', {
          KeyId: metadata.KeyId,
          PolicyName: 'default',
        })
      ).Policy ?? '{}');
  return { arn: metadata.Arn, keyId: metadata.KeyId, managedAlias, policy };
}

/** A KeyId as given (id, key ARN, alias, alias ARN) as an ARN, for a key that may not exist. */
export function keyArnOf(region: string, account: string, id: string): string {
  if (id.startsWith('arn:')) return id;
  return arn('kms', region, account, id.startsWith('alias/') ? id : `key/${id}`);
}

/** kms:EncryptionContext:<key> for each pair and kms:EncryptionContextKeys. */
export function encryptionContext(pairs: Record<string, string> | undefined): ContextValues {
  const entries = Object.entries(pairs ?? {});
  if (entries.length === 0) return {};
  const context: ContextValues = { 'kms:EncryptionContextKeys': entries.map(([k]) => k) };
  for (const [k, v] of entries) context[`kms:EncryptionContext:${k}`] = v;
  return context;
}

export interface ViaService {
  /** The IAM prefix of the service that calls KMS for the caller: `ssm`, `secretsmanager`. */
  service: string;
  region: string;
  account: string;
  /** The key as the resource names it; undefined: the service's AWS managed key. */
  keyId: string | undefined;
  action: string;
  encryptionContext: Record<string, string>;
  refuse: Refusal;
}

/**
 * The KMS request a service makes with the caller's identity (a forward access session), as one
 * more triple of the caller's request: evaluated with the caller's identity policies and the key
 * policy, kms:ViaService the service's endpoint, aws:ViaAWSService true (IAM sets it on every
 * forward access session request; it is false only for direct calls).
 */
export function viaService(via: ViaService): AuthRequest {
  const keyId = via.keyId || `alias/aws/${via.service}`;
  return {
    action: via.action,
    resource: keyArnOf(via.region, via.account, keyId),
    context: {
      'kms:ViaService': `${via.service}.${via.region}.amazonaws.com`,
      'kms:CallerAccount': via.account,
      'aws:ViaAWSService': 'true',
      ...encryptionContext(via.encryptionContext),
    },
    existing: { kind: 'kms-key', region: via.region, id: keyId },
    refuse: via.refuse,
  };
}

/**
 * Parameter Store passes KMS's refusal on as its own AccessDeniedException, KMS's message with the
 * SDK-style suffix naming the service that refused (seen from AWS: `... because no resource-based
 * policy allows the kms:Decrypt action (Service: AWSKMS; Status Code: 400; Error Code:
 * AccessDeniedException; ...)`). A key that does not exist is InvalidKeyId.
 */
export const ssmKmsRefusal: Refusal = ({ message, missing, keyId }) =>
  missing
    ? new AwsError('InvalidKeyId', `Invalid KeyId: ${keyId}`, 400)
    : new AwsError(
        'AccessDeniedException',
        `${message} (Service: AWSKMS; Status Code: 400; Error Code: AccessDeniedException; Request ID: ${randomUUID()}; Proxy: null)`,
        400,
      );

/** Secrets Manager answers any KMS refusal with this one message, naming neither key nor action. */
export const secretsManagerKmsRefusal: Refusal = ({ missing }) =>
  missing
    ? new AwsError('InvalidRequestException', 'The specified KMS key does not exist.', 400)
    : new AwsError('AccessDeniedException', 'Access to KMS is not allowed', 400);

/**
 * CloudWatch Logs, for a key it may not use as logs.<region>.amazonaws.com. AWS answers the same
 * for a key that does not exist; the emulator lets that through (moto stores any key ARN), since
 * emulator tests name made-up keys for encrypted groups.
 */
export const logsKmsRefusal =
  (groupArn: string): Refusal =>
  ({ missing }) =>
    missing
      ? undefined
      : new AwsError(
          'AccessDeniedException',
          `The specified KMS key does not exist or is not allowed to be used with Arn '${groupArn}'`,
          400,
        );

/** The key id moto writes at the head of its ciphertext blobs (36 bytes), when it is one. */
export function keyIdOfCiphertext(blob: unknown): string | undefined {
  if (typeof blob !== 'string') return undefined;
  const head = Buffer.from(blob, 'base64').subarray(0, 36).toString('latin1');
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(head) ? head : undefined;
}
