import { arn } from '../arns.js';
import { requestTagContext, tagMap } from '../context-keys.js';
import {
  AUTHORIZED_BY_HANDLER,
  anyResource,
  type OperationInput,
  type OperationModel,
  type ServiceModel,
} from '../model.js';

/** STS, CloudTrail and KMS. */

export const sts: ServiceModel = {
  /** Needs no permission: any valid credentials may ask who they are. */
  GetCallerIdentity: () => [],
  /** role-credentials.ts checks the caller's identity policy and the role's trust policy. */
  AssumeRole: AUTHORIZED_BY_HANDLER,
};

export const cloudtrail: ServiceModel = {
  LookupEvents: anyResource('cloudtrail:LookupEvents'),
  DescribeTrails: anyResource('cloudtrail:DescribeTrails'),
};

/**
 * KMS keys by id, ARN or alias (an alias authorizes on the alias name here: resolving it to its key
 * would need a read the product never triggers). Key policies are not evaluated: IAM policies
 * decide, as under the default key policy that delegates to the account.
 */
function keyArn(op: OperationInput, id: string): string {
  if (id.startsWith('arn:')) return id;
  return arn('kms', op.region, op.account, id.startsWith('alias/') ? id : `key/${id}`);
}

function key(action: string): OperationModel {
  return (op) => [{ action, resource: keyArn(op, String(op.input.KeyId ?? '')) }];
}

const KEY_ACTIONS = [
  'DescribeKey',
  'Encrypt',
  'GenerateDataKey',
  'GenerateDataKeyWithoutPlaintext',
  'ReEncryptFrom',
  'GetKeyPolicy',
  'PutKeyPolicy',
  'EnableKeyRotation',
  'GetKeyRotationStatus',
  'ScheduleKeyDeletion',
  'ListResourceTags',
];

const keys: ServiceModel = {};
for (const op of KEY_ACTIONS) keys[op] = key(`kms:${op}`);

export const kms: ServiceModel = {
  ...keys,
  /** Decrypt names its key only inside the ciphertext, when at all: authorized on the named key or `*`. */
  Decrypt: (op) => (op.input.KeyId ? key('kms:Decrypt')(op) : [{ action: 'kms:Decrypt', resource: '*' }]),
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
    { action: 'kms:CreateAlias', resource: keyArn(op, String(op.input.TargetKeyId ?? '')) },
  ],
};
