import { arn } from '../arns.js';
import { requestTagContext, tagKeysContext, tagMap } from '../context-keys.js';
import { keyArnOf, logsKmsRefusal } from '../kms.js';
import type { AuthRequest, OperationInput, OperationModel, ServiceModel } from '../model.js';

/**
 * CloudWatch Logs (prefix logs). Log group actions are authorized on
 * `log-group:<name>:log-stream:` and stream actions on `log-group:<name>:log-stream:<stream>` (what
 * AWS names in its refusals), so `log-group:<name>:*` and `log-group:*` grants both apply;
 * DescribeLogGroups lists across groups (`log-group::log-stream:`).
 */

const groupArn = (op: OperationInput, name: string, stream = '') =>
  arn('logs', op.region, op.account, `log-group:${name}:log-stream:${stream}`);

function group(action: string, context?: (op: OperationInput) => AuthRequest['context']): OperationModel {
  return (op) => {
    const name = String(op.input.logGroupName ?? op.input.logGroupIdentifier ?? '');
    return [
      {
        action,
        resource: groupArn(op, name),
        context: context?.(op),
        existing: { kind: 'log-group', region: op.region, name },
      },
    ];
  };
}

function stream(action: string): OperationModel {
  return (op) => {
    const name = String(op.input.logGroupName ?? op.input.logGroupIdentifier ?? '');
    return [
      {
        action,
        resource: groupArn(op, name, String(op.input.logStreamName ?? '')),
        existing: { kind: 'log-group', region: op.region, name },
      },
    ];
  };
}

/** Tagging by ARN (TagResource and friends): a log group's ARN as given. */
function byArn(action: string, context?: (op: OperationInput) => AuthRequest['context']): OperationModel {
  return (op) => {
    const resource = String(op.input.resourceArn ?? '');
    const name = /:log-group:([^:]+)/.exec(resource)?.[1];
    return [
      {
        action,
        resource,
        context: context?.(op),
        ...(name ? { existing: { kind: 'log-group' as const, region: op.region, name } } : {}),
      },
    ];
  };
}

const requestTags = (op: OperationInput) => requestTagContext(tagMap(op.input.tags));

/**
 * A log group's KMS key is used by CloudWatch Logs itself, as the service principal
 * logs.<region>.amazonaws.com, never with the caller's identity (the caller needs no KMS grant):
 * the key policy must allow that principal to generate data keys and decrypt, with the encryption
 * context aws:logs:arn = the group's ARN. Otherwise, or when the key is not there, CreateLogGroup
 * and AssociateKmsKey answer AccessDeniedException naming the group.
 */
/** Whether the call has CloudWatch Logs use a KMS key: checked whoever calls, the admin too. */
export const usesGroupKey = (operation: string, input: Record<string, unknown> | undefined) =>
  (operation === 'CreateLogGroup' || operation === 'AssociateKmsKey') && Boolean(input?.kmsKeyId);

function withGroupKey(model: OperationModel): OperationModel {
  return async (op) => {
    const requests = await model(op);
    const keyId = op.input.kmsKeyId as string | undefined;
    const name = String(op.input.logGroupName ?? '');
    if (!keyId || !name) return requests;
    const group = arn('logs', op.region, op.account, `log-group:${name}`);
    for (const action of ['kms:GenerateDataKey', 'kms:Decrypt'])
      requests.push({
        action,
        resource: keyArnOf(op.region, op.account, keyId),
        servicePrincipal: `logs.${op.region}.amazonaws.com`,
        context: {
          'kms:EncryptionContext:aws:logs:arn': group,
          'kms:EncryptionContextKeys': ['aws:logs:arn'],
        },
        existing: { kind: 'kms-key', region: op.region, id: keyId },
        refuse: logsKmsRefusal(group),
      });
    return requests;
  };
}

export const logs: ServiceModel = {
  CreateLogGroup: withGroupKey(group('logs:CreateLogGroup', requestTags)),
  DeleteLogGroup: group('logs:DeleteLogGroup'),
  PutRetentionPolicy: group('logs:PutRetentionPolicy'),
  DeleteRetentionPolicy: group('logs:DeleteRetentionPolicy'),
  AssociateKmsKey: withGroupKey(group('logs:AssociateKmsKey')),
  DisassociateKmsKey: group('logs:DisassociateKmsKey'),
  DescribeLogStreams: group('logs:DescribeLogStreams'),
  FilterLogEvents: group('logs:FilterLogEvents'),
  TagLogGroup: group('logs:TagLogGroup', requestTags),
  UntagLogGroup: group('logs:UntagLogGroup', (op) => tagKeysContext(op.input.tags)),
  ListTagsLogGroup: group('logs:ListTagsLogGroup'),
  DescribeLogGroups: (op) => [{ action: 'logs:DescribeLogGroups', resource: groupArn(op, '') }],
  CreateLogStream: stream('logs:CreateLogStream'),
  PutLogEvents: stream('logs:PutLogEvents'),
  GetLogEvents: stream('logs:GetLogEvents'),
  DeleteLogStream: stream('logs:DeleteLogStream'),
  TagResource: byArn('logs:TagResource', requestTags),
  UntagResource: byArn('logs:UntagResource', (op) => tagKeysContext(op.input.tagKeys)),
  ListTagsForResource: byArn('logs:ListTagsForResource'),
};
