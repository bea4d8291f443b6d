import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { arn } from '../arns.js';
import { requestTagContext, tagKeysContext, tagMap } from '../context-keys.js';
import { secretsManagerKmsRefusal, viaService } from '../kms.js';
import { anyResource, modelAll } from '../model.js';
import type { AuthRequest, OperationInput, OperationModel, ServiceModel } from '../model.js';

/**
 * Secrets Manager (prefix secretsmanager). A secret named by name is looked up for its real ARN
 * (with the random suffix), its tags and its resource policy, which takes part in the decision.
 * Creating a secret with tags also needs secretsmanager:TagResource.
 */

function secret(action: string, context?: (op: OperationInput) => AuthRequest['context']): OperationModel {
  return (op) => {
    const id = String(op.input.SecretId ?? '');
    return [
      {
        action,
        resource: id.startsWith('arn:') ? id : arn('secretsmanager', op.region, op.account, `secret:${id}`),
        context: context?.(op),
        existing: { kind: 'secret', region: op.region, id },
      },
    ];
  };
}

/**
 * Secrets Manager encrypts each secret value under a data key from KMS and decrypts it with the
 * caller's identity: a write (CreateSecret or UpdateSecret with a value, PutSecretValue) is one
 * more kms:GenerateDataKey request, a read (GetSecretValue) one more kms:Decrypt, on the secret's
 * key (default the AWS managed key alias/aws/secretsmanager), with the encryption context
 * SecretARN (and SecretVersionId when the request names the version).
 */
function secretKms(
  op: OperationInput,
  action: string,
  keyId: string | undefined,
  context: Record<string, string>,
): AuthRequest {
  return viaService({
    service: 'secretsmanager',
    region: op.region,
    account: op.account,
    keyId,
    action,
    encryptionContext: context,
    refuse: secretsManagerKmsRefusal,
  });
}

/** The stored secret's ARN and key (moto omits KmsKeyId for the default key), if it exists. */
async function storedSecret(op: OperationInput): Promise<{ arn: string; keyId?: string } | undefined> {
  try {
    const described = await op.ctx
      .moto(SecretsManagerClient, op.region)
      .send(new DescribeSecretCommand({ SecretId: String(op.input.SecretId ?? '') }));
    return described.ARN ? { arn: described.ARN, keyId: described.KmsKeyId || undefined } : undefined;
  } catch (err) {
    if ((err as Error).name === 'ResourceNotFoundException') return undefined;
    throw err;
  }
}

/** A request on a secret that also has Secrets Manager call KMS for the caller. */
function withKms(action: string, kmsAction: string, when: (op: OperationInput) => boolean): OperationModel {
  const own = secret(`secretsmanager:${action}`);
  return async (op) => {
    const requests = await own(op);
    if (!when(op)) return requests;
    const stored = await storedSecret(op);
    if (!stored) return requests;
    const version = op.input.VersionId ?? op.input.ClientRequestToken;
    requests.push(
      secretKms(op, kmsAction, (op.input.KmsKeyId as string | undefined) || stored.keyId, {
        SecretARN: stored.arn,
        ...(version ? { SecretVersionId: String(version) } : {}),
      }),
    );
    return requests;
  };
}

const hasValue = (op: OperationInput) =>
  op.input.SecretString !== undefined || op.input.SecretBinary !== undefined;

const SECRET_ACTIONS = [
  'DescribeSecret',
  'GetSecretValue',
  'PutSecretValue',
  'UpdateSecret',
  'DeleteSecret',
  'RestoreSecret',
  'RotateSecret',
  'CancelRotateSecret',
  'ListSecretVersionIds',
  'UpdateSecretVersionStage',
  'GetResourcePolicy',
  'PutResourcePolicy',
  'DeleteResourcePolicy',
  'ValidateResourcePolicy',
];

const table: ServiceModel = modelAll(SECRET_ACTIONS, (op) => secret(`secretsmanager:${op}`));

table.GetSecretValue = withKms('GetSecretValue', 'kms:Decrypt', () => true);
table.PutSecretValue = withKms('PutSecretValue', 'kms:GenerateDataKey', hasValue);
table.UpdateSecret = withKms('UpdateSecret', 'kms:GenerateDataKey', hasValue);

export const secretsmanager: ServiceModel = {
  ...table,
  CreateSecret(op) {
    const tags = tagMap(op.input.Tags);
    // The ARN of a secret not created yet: its name and a suffix to come.
    const resource = arn(
      'secretsmanager',
      op.region,
      op.account,
      `secret:${String(op.input.Name ?? '')}-??????`,
    );
    const context = requestTagContext(tags);
    const requests: AuthRequest[] = [{ action: 'secretsmanager:CreateSecret', resource, context }];
    if (Object.keys(tags).length) requests.push({ action: 'secretsmanager:TagResource', resource, context });
    // The secret's ARN (its random suffix) is not known before it exists: no SecretARN context.
    if (hasValue(op))
      requests.push(
        secretKms(op, 'kms:GenerateDataKey', (op.input.KmsKeyId as string | undefined) || undefined, {}),
      );
    return requests;
  },
  TagResource: secret('secretsmanager:TagResource', (op) => requestTagContext(tagMap(op.input.Tags))),
  UntagResource: secret('secretsmanager:UntagResource', (op) => tagKeysContext(op.input.TagKeys)),
  ListSecrets: anyResource('secretsmanager:ListSecrets'),
  GetRandomPassword: anyResource('secretsmanager:GetRandomPassword'),
  BatchGetSecretValue: anyResource('secretsmanager:BatchGetSecretValue'),
};
