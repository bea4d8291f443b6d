import { arn } from '../arns.js';
import { requestTagContext, tagKeysContext, tagMap } from '../context-keys.js';
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

export const logs: ServiceModel = {
  CreateLogGroup: group('logs:CreateLogGroup', requestTags),
  DeleteLogGroup: group('logs:DeleteLogGroup'),
  PutRetentionPolicy: group('logs:PutRetentionPolicy'),
  DeleteRetentionPolicy: group('logs:DeleteRetentionPolicy'),
  AssociateKmsKey: group('logs:AssociateKmsKey'),
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
