import type { PolicyDocument } from './iam-roles.js';
import { labPath } from './names.js';

/**
 * The guard on the roles a student can hold from a root shell on their Dev hosts (SSMLabRole from
 * the EC2 hosts' instance profile, SSMServiceRole's credentials the hybrid agent shares with root)
 * and on each lab's bootstrap role. The roles keep the seed's AmazonSSMManagedInstanceCore, which
 * is what makes a host a managed node, but it also allows ssm:GetParameter(s) on `*`: every lab's
 * activation codes and SSH key under /session-lab/, whose aws/ssm key decrypts through Systems
 * Manager for any principal of the account. An explicit Deny (which no Allow overrides, whatever
 * is attached later) takes back, for every principal holding it:
 * - the lab parameters (/session-lab and everything under it); GetParametersByPath everywhere,
 *   since it is authorized against the requested path only (a recursive read of `/` reaches them);
 * - every secret of Secrets Manager;
 * - everything of CloudWatch Logs but what the agent's session logging calls (DescribeLogGroups,
 *   CreateLogStream, DescribeLogStreams, PutLogEvents, granted on the lab's group only by
 *   shared/session-logging.ts): no reading transcripts, no retention, deletion, new groups, keys,
 *   subscriptions, queries or exports. IAM has no "every action but" inside one service (NotAction
 *   spans every service), so the Put, Create and Describe families are listed around the allowed ones.
 * A permissions boundary would do the same but only by listing everything a node may do, and it
 * caps the role's session logging grant too; the deny names only what is taken away.
 *
 * A lab's bootstrap role (`ownLab`) reads its own lab's parameters and nothing else of Parameter
 * Store (its registration script reads the key and the codes by name), and writes no logs at all.
 */
export const HOST_GUARD_POLICY_NAME = 'SessionLabHostGuard';

/** The CloudWatch Logs actions taken back, every one but the agent's session logging calls. */
export const GUARDED_LOGS_ACTIONS = [
  'logs:Associate*',
  'logs:Cancel*',
  'logs:CreateDelivery',
  'logs:CreateExportTask',
  'logs:CreateLogAnomalyDetector',
  'logs:CreateLogGroup',
  'logs:Delete*',
  'logs:DescribeAccountPolicies',
  'logs:DescribeDeliver*',
  'logs:DescribeDestinations',
  'logs:DescribeExportTasks',
  'logs:DescribeMetricFilters',
  'logs:DescribeQueries',
  'logs:DescribeQueryDefinitions',
  'logs:DescribeResourcePolicies',
  'logs:DescribeSubscriptionFilters',
  'logs:Disassociate*',
  'logs:Filter*',
  'logs:Get*',
  'logs:Link',
  'logs:List*',
  'logs:PutA*',
  'logs:PutB*',
  'logs:PutD*',
  'logs:PutI*',
  'logs:PutLogG*',
  'logs:PutM*',
  'logs:PutQ*',
  'logs:PutR*',
  'logs:PutS*',
  'logs:PutT*',
  'logs:Start*',
  'logs:Stop*',
  'logs:Tag*',
  'logs:Test*',
  'logs:Unmask',
  'logs:Untag*',
  'logs:Update*',
];

const PARAMETER_READS = ['ssm:GetParameter', 'ssm:GetParameters', 'ssm:GetParameterHistory'];

export function hostGuardPolicy(partition: string, ownLab?: string): PolicyDocument {
  const parameters = `arn:${partition}:ssm:*:*:parameter`;
  return {
    Version: '2012-10-17',
    Statement: [
      ownLab
        ? {
            Sid: 'OnlyOwnLabParameters',
            Effect: 'Deny',
            Action: PARAMETER_READS,
            NotResource: `${parameters}${labPath(ownLab)}/*`,
          }
        : {
            Sid: 'NoLabParameters',
            Effect: 'Deny',
            Action: PARAMETER_READS,
            Resource: [`${parameters}/session-lab`, `${parameters}/session-lab/*`],
          },
      {
        Sid: 'NoParameterTrees',
        Effect: 'Deny',
        Action: 'ssm:GetParametersByPath',
        Resource: '*',
      },
      { Sid: 'NoSecrets', Effect: 'Deny', Action: 'secretsmanager:*', Resource: '*' },
      ownLab
        ? { Sid: 'NoLogs', Effect: 'Deny', Action: 'logs:*', Resource: '*' }
        : { Sid: 'OnlySessionLogging', Effect: 'Deny', Action: GUARDED_LOGS_ACTIONS, Resource: '*' },
    ],
  };
}
