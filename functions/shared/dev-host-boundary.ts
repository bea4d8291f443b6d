import { BOOTSTRAP_AGENT_ACTIONS, type BoundaryScope } from './bootstrap-boundary.js';
import type { PolicyDocument } from './iam-roles.js';
import { SESSION_LOG_GROUP_PREFIX } from './lab-config.js';
import { SHARED_NAMES } from './names.js';
import { findSessionLogGroupStatement } from './session-log-statements.js';

/**
 * The permissions boundary of every lab's Dev host roles (SessionLabDevHost-<labId>,
 * SessionLabDevNode-<labId>, shared/dev-host-roles.ts), deployed by the stack as the customer
 * managed policy `SHARED_NAMES.devHostBoundaryPolicy`. Whatever launch-instances or
 * create-activations (or a bug in them, or anyone holding their credentials) puts on those roles,
 * whose credentials a student holds as root on the lab's Dev hosts, the roles may do at most:
 * - what AmazonSSMManagedInstanceCore grants, the Systems Manager agent's own calls (the roles'
 *   host guard still denies its lab parameters and parameter trees);
 * - the agent's session logging: find the group, find, create and write streams in the groups a
 *   lab may use (SSM-Logs, /session-lab/...), upload to a bucket of the account and check its
 *   encryption (the roles' own logging policy narrows it to the lab's streams).
 * Nothing of IAM, Secrets Manager, EC2, the rest of CloudWatch Logs or of Systems Manager.
 */

/** The actions of AmazonSSMManagedInstanceCore: what makes a host a managed node with sessions. */
export const MANAGED_INSTANCE_CORE_ACTIONS = [
  ...BOOTSTRAP_AGENT_ACTIONS,
  'ssm:GetDeployablePatchSnapshotForInstance',
  'ssm:GetManifest',
  'ssm:GetParameter',
  'ssm:GetParameters',
  'ssm:PutComplianceItems',
  'ssm:PutConfigurePackageResult',
  'ssm:PutInventory',
].sort();

export function devHostBoundaryPolicy({ partition, region, accountId }: BoundaryScope): PolicyDocument {
  const logs = `arn:${partition}:logs:${region}:${accountId}`;
  const defaultGroup = `${logs}:log-group:${SHARED_NAMES.defaultLogGroup}`;
  return {
    Version: '2012-10-17',
    Statement: [
      { Sid: 'ManagedNodeAgent', Effect: 'Allow', Action: MANAGED_INSTANCE_CORE_ACTIONS, Resource: '*' },
      findSessionLogGroupStatement(logs),
      {
        Sid: 'WriteSessionLogs',
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents'],
        Resource: [defaultGroup, `${defaultGroup}:*`, `${logs}:log-group:${SESSION_LOG_GROUP_PREFIX}*`],
      },
      {
        Sid: 'UploadSessionLogs',
        Effect: 'Allow',
        Action: ['s3:PutObject', 's3:GetEncryptionConfiguration'],
        Resource: `arn:${partition}:s3:::*`,
        Condition: { StringEquals: { 's3:ResourceAccount': accountId } },
      },
    ],
  };
}
