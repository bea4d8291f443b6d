import { arn } from '../arns.js';
import { requestTagContext, tagMap } from '../context-keys.js';
import { encryptionContext, keyArnOf, keyIdOfCiphertext } from '../kms.js';
import { anyResource, AUTHORIZED_BY_HANDLER, modelAll } from '../model.js';
import type { AuthRequest, OperationInput, OperationModel, ServiceModel } from '../model.js';

/** STS, CloudTrail, KMS and S3. */

export const sts: ServiceModel = {
  /** Needs no permission: any valid credentials may ask who they are. */
  GetCallerIdentity: () => [],
  /** role-credentials.ts checks the caller's identity policy and the role's trust policy. */
  AssumeRole: AUTHORIZED_BY_HANDLER,
};

/**
 * S3, as far as session-lab uses it: the bucket encryption check (GetBucketEncryption, IAM action
 * s3:GetEncryptionConfiguration), which validate-lab-input's role is granted and the agent makes
 * before a session logs to a bucket (sessions/logging.ts builds its request here). S3 is a REST protocol
 * the emulator does not parse, so this entry is keyed by IAM action, not operation name, and a
 * signed S3 request from a caller other than the admin is still refused as unmodelled
 * (enforce.ts refuseUnparsed). s3:ResourceAccount is the bucket owner's account: moto holds one
 * account, so every bucket is the caller's account's.
 */
export const s3: ServiceModel = {
  GetEncryptionConfiguration: (op) => [bucketEncryptionCheck(String(op.input.Bucket ?? ''), op.account)],
};

/** s3:GetEncryptionConfiguration on a bucket of `account` (also the agent's check, sessions/logging.ts). */
export function bucketEncryptionCheck(bucket: string, account: string): AuthRequest {
  return {
    action: 's3:GetEncryptionConfiguration',
    resource: `arn:aws:s3:::${bucket}`,
    context: { 's3:ResourceAccount': account },
  };
}

export const cloudtrail: ServiceModel = {
  LookupEvents: anyResource('cloudtrail:LookupEvents'),
  DescribeTrails: anyResource('cloudtrail:DescribeTrails'),
};

/**
 * KMS keys by id, key ARN, alias or alias ARN: resolved to the key, whose key policy takes part
 * (authorization/kms.ts; it is the root of trust, so an identity grant alone does not do). A key
 * that does not exist is left to KMS to answer (NotFoundException). Cryptographic operations
 * carry kms:CallerAccount and their encryption context; a direct call has no kms:ViaService.
 */
function key(action: string, keyId?: (op: OperationInput) => string | undefined): OperationModel {
  return (op) => {
    const id = keyId ? keyId(op) : String(op.input.KeyId ?? '');
    if (!id) return [{ action, resource: '*' }];
    return [
      {
        action,
        resource: keyArnOf(op.region, op.account, id),
        context: {
          'kms:CallerAccount': op.account,
          ...encryptionContext(op.input.EncryptionContext as Record<string, string> | undefined),
        },
        existing: { kind: 'kms-key', region: op.region, id },
      },
    ];
  };
}

const KEY_ACTIONS = [
  'DescribeKey',
  'Encrypt',
  'GenerateDataKey',
  'GenerateDataKeyWithoutPlaintext',
  'GetKeyPolicy',
  'PutKeyPolicy',
  'EnableKeyRotation',
  'DisableKeyRotation',
  'GetKeyRotationStatus',
  'ScheduleKeyDeletion',
  'CancelKeyDeletion',
  'EnableKey',
  'DisableKey',
  'ListResourceTags',
  'TagResource',
  'UntagResource',
  'ListKeyPolicies',
  'CreateGrant',
  'ListGrants',
];

export const kms: ServiceModel = {
  ...modelAll(KEY_ACTIONS, (op) => key(`kms:${op}`)),
  /** Decrypt names its key in the ciphertext (moto's blob starts with the key id) or in KeyId. */
  Decrypt: key('kms:Decrypt', (op) =>
    op.input.KeyId ? String(op.input.KeyId) : keyIdOfCiphertext(op.input.CiphertextBlob),
  ),
  /** ReEncrypt is two requests: ReEncryptFrom on the source key, ReEncryptTo on the destination. */
  ReEncrypt: async (op) => [
    ...(await key('kms:ReEncryptFrom', (o) =>
      o.input.SourceKeyId ? String(o.input.SourceKeyId) : keyIdOfCiphertext(o.input.CiphertextBlob),
    )(op)),
    ...(await key('kms:ReEncryptTo', (o) => String(o.input.DestinationKeyId ?? ''))(op)),
  ],
  CreateKey: (op) => [
    { action: 'kms:CreateKey', resource: '*', context: requestTagContext(tagMap(op.input.Tags)) },
  ],
  ListKeys: anyResource('kms:ListKeys'),
  ListAliases: anyResource('kms:ListAliases'),
  CreateAlias: (op) => [
    {
      action: 'kms:CreateAlias',
      resource: arn('kms', op.region, op.account, String(op.input.AliasName ?? '')),
    },
    ...(key('kms:CreateAlias', (o) => String(o.input.TargetKeyId ?? ''))(op) as AuthRequest[]),
  ],
};
