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
 * Session Manager targets: EC2 instances and hybrid nodes have different ARNs,
 * in the partition of the lab's Region (`partitionOf`).
 */
export const nodeResources = (partition: string) => [
  `arn:${partition}:ec2:*:*:instance/*`,
  `arn:${partition}:ssm:*:*:managed-instance/*`,
];

/** The user's own sessions: a session id starts with the IAM user name. */
const ownSessions = (partition: string) => `arn:${partition}:ssm:*:*:session/\${aws:username}-*`;

/**
 * Session ids and the session log streams named after them are `<user name>-<suffix>`, and user
 * names are `MyWorkshopUser-<labId>`, where a lab id may contain hyphens: so `${aws:username}-*`
 * of lab `sec101` also matches `MyWorkshopUser-sec101-01-<suffix>`, the sessions and transcripts
 * of lab `sec101-01`. The suffix is random letters and digits, without a hyphen (terminate-sessions
 * relies on the same), so one more hyphen after the user name and its separator always means
 * another user's resource: these patterns are denied. Keeping the user names (the sign-in names
 * students are given) and pinning the suffix this way fails closed: if a suffix ever held a
 * hyphen, the user would lose its own session, never gain another's.
 */
const longerUserNames = (partition: string) => [
  `arn:${partition}:ssm:*:*:session/\${aws:username}-*-*`,
  `arn:${partition}:logs:*:*:log-group:*:log-stream:\${aws:username}-*-*`,
];

/**
 * The user's own session transcripts: Session Manager names each stream in the session log group
 * after the session. GetLogEvents is authorized on the stream; the group-wide reads
 * (FilterLogEvents, StartQuery, StartLiveTail, the managed CloudWatchLogsReadOnlyAccess) would show
 * every student's transcripts, so they are not granted.
 */
const ownTranscripts = (partition: string, logGroupName: string) =>
  `arn:${partition}:logs:*:*:log-group:${logGroupName}:log-stream:\${aws:username}-*`;

/**
 * What both modes add to the session statements: the user's own transcripts, which the seed read
 * through CloudWatchLogsReadOnlyAccess, and the guard against the sessions and transcripts of a
 * lab whose id extends this one's.
 */
function ownSessionStatements(partition: string, logGroupName: string): PolicyStatement[] {
  return [
    {
      Sid: 'ReadOwnSessionTranscripts',
      Effect: 'Allow',
      Action: 'logs:GetLogEvents',
      Resource: ownTranscripts(partition, logGroupName),
    },
    {
      Sid: 'DenyLongerUserNamesSessions',
      Effect: 'Deny',
      Action: ['ssm:TerminateSession', 'ssm:ResumeSession', 'logs:GetLogEvents'],
      Resource: longerUserNames(partition),
    },
    {
      // The seed's ssm:Describe* lists every lab's activations (ids, roles, registrations, expiry):
      // registration is the product's work, never the student's.
      Sid: 'DenyActivations',
      Effect: 'Deny',
      Action: 'ssm:DescribeActivations',
      Resource: '*',
    },
  ];
}

/**
 * Both modes: the seed's `ssm:Get*` would let the user decrypt every lab's SecureString parameters
 * (activation codes, private key) through the aws/ssm key, so those are denied, with the tree's
 * root; and GetParametersByPath everywhere: it is authorized against the requested path only, so
 * a recursive read of `/` or `/session-lab` would return every lab's parameters despite the deny.
 */
function secretStatements(partition: string): PolicyStatement[] {
  return [
    {
      Sid: 'DenyLabSecrets',
      Effect: 'Deny',
      Action: ['ssm:GetParameter', 'ssm:GetParameters', 'ssm:GetParametersByPath', 'ssm:GetParameterHistory'],
      // Every lab's parameters (`/session-lab/*`), not only this lab's, and the tree's root.
      Resource: [
        `arn:${partition}:ssm:*:*:parameter${labPath('*')}`,
        `arn:${partition}:ssm:*:*:parameter${labPath('*').replace(/\/\*$/, '')}`,
      ],
    },
    {
      Sid: 'DenyParameterTreeReads',
      Effect: 'Deny',
      Action: 'ssm:GetParametersByPath',
      Resource: '*',
    },
  ];
}

/**
 * The seed's SSMDevAccess as written (seed task 4.3), scoped to the lab: its gap is kept for
 * teaching (the Prod deny names only EC2 instances, so the lab's Prod hybrid node is reachable,
 * any document may be used), but sessions reach only this lab's Dev and Prod nodes (never another
 * lab's, a non-lab node, or the bootstrap host: a node without the lab's tag matches the negated
 * conditions), and no lab's secrets (`secretStatements`); plus the user's own transcripts and the
 * guard on sessions (`ownSessionStatements`).
 */
function seedPolicy(labId: string, partition: string, logGroupName: string): PolicyDocument {
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
      {
        Sid: 'DenySessionsOutsideLab',
        Effect: 'Deny',
        Action: ['ssm:StartSession', 'ssm:ResumeSession'],
        Resource: nodeResources(partition),
        Condition: { StringNotEquals: { [`ssm:resourceTag/${TAG_LAB_ID}`]: labId } },
      },
      {
        Sid: 'DenySessionsOutsideDevProd',
        Effect: 'Deny',
        Action: ['ssm:StartSession', 'ssm:ResumeSession'],
        Resource: nodeResources(partition),
        Condition: { StringNotEquals: { 'ssm:resourceTag/Environment': ['Dev', 'Prod'] } },
      },
      ...secretStatements(partition),
      ...ownSessionStatements(partition, logGroupName),
    ],
  };
}

/**
 * The seed's intent without its gaps:
 * - the Prod deny covers hybrid nodes too (`managed-instance/*`), ignores the case
 *   of the tag value, and also covers ResumeSession;
 * - StartSession is allowed only on this lab's Dev/Prod nodes (not other labs', not the bootstrap
 *   host, whose role reads the lab's secrets) and only with the lab's preferences document;
 * - no lab's secrets (`secretStatements`);
 * - the user's own transcripts, and nothing of another lab's sessions (`ownSessionStatements`).
 */
function strictPolicy(labId: string, partition: string, logGroupName: string): PolicyDocument {
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
      ...secretStatements(partition),
      ...ownSessionStatements(partition, logGroupName),
    ],
  };
}

/**
 * The workshop user's customer policy (`SSMDevAccess-<labId>`) for a policy mode, naming the
 * resources of `partition` (the lab's Region's, `partitionOf`) and the lab's session log group.
 * Pure. It is the user's only grant besides IAMUserChangePassword: the seed's read-only managed
 * policies are not attached (README.md, deploying).
 */
export function workshopUserPolicy(
  mode: PolicyMode,
  labId: string,
  partition: string,
  logGroupName: string = SHARED_NAMES.defaultLogGroup,
): PolicyDocument {
  return mode === 'seed'
    ? seedPolicy(labId, partition, logGroupName)
    : strictPolicy(labId, partition, logGroupName);
}
