import type { PolicyDocument } from './iam-roles.js';

/**
 * The permissions boundary of every lab's bootstrap role (SessionLabBootstrap-<labId>,
 * shared/bootstrap-role.ts), deployed by the stack as the customer managed policy
 * `SHARED_NAMES.bootstrapBoundaryPolicy`. A boundary caps what a role's own policies can grant:
 * whatever launch-instances (or a bug in it, or anyone holding its credentials) puts on a bootstrap
 * role, the role may do at most this:
 * - read lab parameters (`/session-lab/*`), the host's registration script reading its lab's SSH
 *   key and activation codes by name (the role's inline guard narrows it to its own lab);
 * - decrypt them, through Systems Manager only (SecureString values under the `aws/ssm` key);
 * - be a managed node that takes Run Command: the agent's own calls (report itself, its
 *   associations, and the message channels commands arrive on and their output goes back over).
 * Nothing of IAM, Secrets Manager, CloudWatch Logs, EC2 or the rest of Systems Manager: no other
 * parameter, no session or command to another node, no inventory, compliance or patching.
 *
 * `partition`, `region` and `accountId` are plain values, or the CloudFormation pseudo parameters
 * (`${AWS::Partition}`, ...) inside an `Fn::Sub` when the stack deploys it.
 */

/** What the agent calls to be an Online managed node and run the registration command. */
export const BOOTSTRAP_AGENT_ACTIONS = [
  'ssm:UpdateInstanceInformation',
  'ssm:ListAssociations',
  'ssm:ListInstanceAssociations',
  'ssm:DescribeAssociation',
  'ssm:UpdateAssociationStatus',
  'ssm:UpdateInstanceAssociationStatus',
  'ssm:GetDocument',
  'ssm:DescribeDocument',
  'ssmmessages:CreateControlChannel',
  'ssmmessages:CreateDataChannel',
  'ssmmessages:OpenControlChannel',
  'ssmmessages:OpenDataChannel',
  'ec2messages:AcknowledgeMessage',
  'ec2messages:DeleteMessage',
  'ec2messages:FailMessage',
  'ec2messages:GetEndpoint',
  'ec2messages:GetMessages',
  'ec2messages:SendReply',
];

export interface BoundaryScope {
  partition: string;
  region: string;
  accountId: string;
}

export function bootstrapBoundaryPolicy({ partition, region, accountId }: BoundaryScope): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'LabParameters',
        Effect: 'Allow',
        Action: ['ssm:GetParameter', 'ssm:GetParameters'],
        Resource: `arn:${partition}:ssm:${region}:${accountId}:parameter/session-lab/*`,
      },
      {
        Sid: 'DecryptThroughSystemsManager',
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: `arn:${partition}:kms:${region}:${accountId}:key/*`,
        Condition: { StringEquals: { 'kms:ViaService': `ssm.${region}.amazonaws.com` } },
      },
      {
        Sid: 'ManagedNodeAgent',
        Effect: 'Allow',
        Action: BOOTSTRAP_AGENT_ACTIONS,
        Resource: '*',
      },
    ],
  };
}
