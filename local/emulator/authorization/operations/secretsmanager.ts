import { arn } from '../arns.js';
import { requestTagContext, tagKeysContext, tagMap } from '../context-keys.js';
import {
  anyResource,
  type AuthRequest,
  type OperationInput,
  type OperationModel,
  type ServiceModel,
} from '../model.js';

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

const table: ServiceModel = {};
for (const op of SECRET_ACTIONS) table[op] = secret(`secretsmanager:${op}`);

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
    return requests;
  },
  TagResource: secret('secretsmanager:TagResource', (op) => requestTagContext(tagMap(op.input.Tags))),
  UntagResource: secret('secretsmanager:UntagResource', (op) => tagKeysContext(op.input.TagKeys)),
  ListSecrets: anyResource('secretsmanager:ListSecrets'),
  GetRandomPassword: anyResource('secretsmanager:GetRandomPassword'),
  BatchGetSecretValue: anyResource('secretsmanager:BatchGetSecretValue'),
};
