import type { PolicyDocument } from './iam-roles.js';

/**
 * The agent's look-up of the session log group, in every policy that lets a node log sessions (the
 * host roles' logging policies and the Dev host boundary). DescribeLogGroups is a list call that
 * names no particular group, so it can only be granted on the account's groups in the Region.
 * `logs`: `arn:<partition>:logs:<region>:<account>`.
 */
export function findSessionLogGroupStatement(logs: string): PolicyDocument['Statement'][number] {
  return {
    Sid: 'FindSessionLogGroup',
    Effect: 'Allow',
    Action: 'logs:DescribeLogGroups',
    Resource: `${logs}:log-group:*`,
  };
}
