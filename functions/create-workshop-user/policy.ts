import type { LabConfig } from '../shared/lab-config.js';
import { SHARED_NAMES, labPath } from '../shared/names.js';
import { TAG_LAB_ID } from '../shared/tags.js';

export type PolicyMode = LabConfig['policyMode'];

export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
}

/**
 * Session Manager targets: EC2 instances and hybrid nodes have different ARNs (facts sheet 5.1),
 * in the partition of the lab's Region (`partitionOf`).
 */
export const nodeResources = (partition: string) => [
  `arn:${partition}:ec2:*:*:instance/*`,
  `arn:${partition}:ssm:*:*:managed-instance/*`,
];

/** The user's own sessions: a session id starts with the IAM user name (facts sheet 5.1). */
const ownSessions = (partition: string) => `arn:${partition}:ssm:*:*:session/\${aws:username}-*`;

/** The seed's SSMDevAccess exactly as written (seed task 4.3), gap included. */
function seedPolicy(partition: string): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: [
          'ssm:DescribeSessions',
          'ssm:GetConnectionStatus',
          'ssm:DescribeInstanceProperties',
          'ec2:DescribeInstances',
          'ssm:StartSession',
        ],
        Resource: '*',
      },
      {
        Sid: 'ReadAlltheSSMThings',
        Effect: 'Allow',
        Action: ['ssm:Get*', 'ssm:Describe*', 'ssm:List*'],
        Resource: '*',
      },
      {
        Sid: 'SameUserTerminate',
        Effect: 'Allow',
        Action: 'ssm:TerminateSession',
        Resource: ownSessions(partition),
      },
      {
        Sid: 'DenySMtoProd',
        Effect: 'Deny',
        Action: 'ssm:StartSession',
        Resource: [`arn:${partition}:ec2:*:*:instance/*`],
        Condition: { StringLike: { 'ssm:resourceTag/Environment': 'Prod' } },
      },
    ],
  };
}

/**
 * The seed's intent without its gaps:
 * - the Prod deny covers hybrid nodes too (`managed-instance/*`, facts sheet 5.2), ignores the case
 *   of the tag value, and also covers ResumeSession;
 * - StartSession is allowed only on this lab's Dev/Prod nodes (not other labs', not the bootstrap
 *   host, whose role reads the lab's secrets) and only with the lab's preferences document;
 * - the seed's `ssm:Get*` would let the user decrypt the lab's SecureString parameters (activation
 *   codes, private key) through the aws/ssm key, so those are denied.
 */
function strictPolicy(labId: string, partition: string): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'SessionManagerConsole',
        Effect: 'Allow',
        Action: [
          'ssm:DescribeSessions',
          'ssm:GetConnectionStatus',
          'ssm:DescribeInstanceProperties',
          'ssm:DescribeInstanceInformation',
          'ec2:DescribeInstances',
        ],
        Resource: '*',
      },
      {
        Sid: 'ReadAlltheSSMThings',
        Effect: 'Allow',
        Action: ['ssm:Get*', 'ssm:Describe*', 'ssm:List*'],
        Resource: '*',
      },
      {
        Sid: 'StartSessionOnOwnLabNodes',
        Effect: 'Allow',
        Action: 'ssm:StartSession',
        Resource: nodeResources(partition),
        Condition: {
          StringEquals: {
            [`ssm:resourceTag/${TAG_LAB_ID}`]: labId,
            'ssm:resourceTag/Environment': ['Dev', 'Prod'],
          },
          BoolIfExists: { 'ssm:SessionDocumentAccessCheck': 'true' },
        },
      },
      {
        Sid: 'StartSessionWithLabPreferences',
        Effect: 'Allow',
        Action: 'ssm:StartSession',
        Resource: `arn:${partition}:ssm:*:*:document/${SHARED_NAMES.preferencesDocument}`,
      },
      {
        Sid: 'SameUserSessions',
        Effect: 'Allow',
        Action: ['ssm:TerminateSession', 'ssm:ResumeSession'],
        Resource: ownSessions(partition),
      },
      {
        Sid: 'DenySMtoProd',
        Effect: 'Deny',
        Action: ['ssm:StartSession', 'ssm:ResumeSession'],
        Resource: nodeResources(partition),
        Condition: { StringEqualsIgnoreCase: { 'ssm:resourceTag/Environment': 'Prod' } },
      },
      {
        Sid: 'DenyLabSecrets',
        Effect: 'Deny',
        Action: [
          'ssm:GetParameter',
          'ssm:GetParameters',
          'ssm:GetParametersByPath',
          'ssm:GetParameterHistory',
        ],
        // Every lab's parameters (`/session-lab/*`), not only this lab's.
        Resource: `arn:${partition}:ssm:*:*:parameter${labPath('*')}`,
      },
    ],
  };
}

/**
 * The workshop user's customer policy (`SSMDevAccess-<labId>`) for a policy mode, naming the
 * resources of `partition` (the lab's Region's, `partitionOf`). Pure.
 */
export function workshopUserPolicy(mode: PolicyMode, labId: string, partition: string): PolicyDocument {
  return mode === 'seed' ? seedPolicy(partition) : strictPolicy(labId, partition);
}
