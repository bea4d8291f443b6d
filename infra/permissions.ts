import { SHARED_NAMES } from '../functions/shared/names.js';
import type { ApiRouteName, LabFunctionName } from './functions.js';

/**
 * What each Lambda task may do, and nothing more: one list of grants per function, each with the
 * exact IAM actions its task calls (functions/README.md, docs/aws-behaviours.md) on the narrowest
 * resources the API allows. `test/infra/permissions.test.ts` scans every task's source for the SDK commands
 * it sends and fails when one is not granted here, so this stays complete as the tasks evolve;
 * `test/infra/stack.test.ts` fails when a grant is wider than these rules allow.
 *
 * Resources are CloudFormation `Fn::Sub` strings (`${AWS::Partition}`, `${AWS::Region}`,
 * `${AWS::AccountId}`); `'*'` appears only for actions that support no resource-level permission,
 * each listed in WILDCARD_ONLY_ACTIONS with the reason.
 */
export interface Grant {
  /** Why the task needs this (and for `'*'`, why nothing narrower works). */
  why: string;
  actions: string[];
  resources: string[];
  conditions?: Record<string, Record<string, string | string[]>>;
}

// ---------------------------------------------------------------- ARN builders
const arn = (service: string, resource: string, { region = true, account = true } = {}) =>
  `arn:\${AWS::Partition}:${service}:${region ? '${AWS::Region}' : ''}:${account ? '${AWS::AccountId}' : ''}:${resource}`;
const iamArn = (resource: string) => arn('iam', resource, { region: false });
const ssmArn = (resource: string) => arn('ssm', resource);
const ec2Arn = (resource: string) => arn('ec2', resource);

/** The account-wide lab roles and profile (shared/names.ts SHARED_NAMES). */
export const LAB_ROLE_ARNS = {
  instanceRole: iamArn('role/SSMLabRole'),
  serviceRole: iamArn('role/SSMServiceRole'),
  instanceProfile: iamArn('instance-profile/SSMLabProfile'),
} as const;
/** Each lab's bootstrap host identity, SessionLabBootstrap-<labId> (shared/bootstrap-role.ts). */
const BOOTSTRAP_ROLES = iamArn('role/SessionLabBootstrap-*');
const BOOTSTRAP_PROFILES = iamArn('instance-profile/SessionLabBootstrap-*');
/**
 * The permissions boundary every bootstrap role must hold (shared/bootstrap-boundary.ts, deployed
 * by the stack under this name): launch-instances may create a bootstrap role, put its policy,
 * attach a policy or put a boundary only with this boundary on the role.
 */
export const BOOTSTRAP_BOUNDARY = iamArn(`policy/${SHARED_NAMES.bootstrapBoundaryPolicy}`);
const WITH_BOOTSTRAP_BOUNDARY = { 'iam:PermissionsBoundary': BOOTSTRAP_BOUNDARY };
/**
 * Each lab's Dev host roles (shared/dev-host-roles.ts): SessionLabDevHost-<labId> (role and
 * instance profile of the Dev EC2 host, launch-instances) and SessionLabDevNode-<labId> (the role
 * of the Dev hybrid node's activation, create-activations), both only with the Dev host boundary
 * (shared/dev-host-boundary.ts, deployed by the stack under this name).
 */
const DEV_HOST_ROLES = iamArn('role/SessionLabDevHost-*');
const DEV_HOST_PROFILES = iamArn('instance-profile/SessionLabDevHost-*');
const DEV_NODE_ROLES = iamArn('role/SessionLabDevNode-*');
export const DEV_HOST_BOUNDARY = iamArn(`policy/${SHARED_NAMES.devHostBoundaryPolicy}`);
const WITH_DEV_HOST_BOUNDARY = { 'iam:PermissionsBoundary': DEV_HOST_BOUNDARY };
const WORKSHOP_USERS = iamArn('user/MyWorkshopUser-*');
const WORKSHOP_POLICIES = iamArn('policy/SSMDevAccess-*');
const LAB_PARAMETERS = ssmArn('parameter/session-lab/*');
/**
 * Activations: CreateActivation with `Tags` is also authorized as ssm:AddTagsToResource on the
 * new activation, whose id Systems Manager assigns.
 */
const ACTIVATIONS = ssmArn('activation/*');
const LAB_SECRETS = arn('secretsmanager', 'secret:session-lab/*');
const PREFERENCES_DOCUMENT = ssmArn('document/SSM-SessionManagerRunShell');
const ACTIVATION_TIER = ssmArn('servicesetting/ssm/managed-instance/activation-tier');
const AMI_PARAMETERS = arn('ssm', 'parameter/aws/service/ami-amazon-linux-latest/*', { account: false });
const RUN_SHELL_SCRIPT = arn('ssm', 'document/AWS-RunShellScript', { account: false });
/** Session ids of an IAM user start with the user name. */
const WORKSHOP_SESSIONS = ssmArn('session/MyWorkshopUser-*');
/**
 * DescribeLogGroups lists across groups: it is authorized against no particular group, so only
 * `log-group:*` grants it (a read).
 */
const LOG_GROUPS = arn('logs', 'log-group:*');
/**
 * The log groups a lab may name (`logGroupName`, shared/lab-config.ts SESSION_LOG_GROUP_PREFIX):
 * the seed's SSM-Logs (a group's actions are authorized on `log-group:<name>:log-stream:`, tagging
 * by ARN on `log-group:<name>`) and the groups under /session-lab/. Nothing else of the account's
 * logs may be created, re-keyed or given another retention.
 */
const SESSION_LOG_GROUP_PATTERN = arn('logs', 'log-group:/session-lab/*');
const SESSION_LOG_GROUPS = [
  arn('logs', 'log-group:SSM-Logs'),
  arn('logs', 'log-group:SSM-Logs:*'),
  SESSION_LOG_GROUP_PATTERN,
];
/** Any bucket of the account (the condition): the session log bucket is lab input (`s3BucketName`). */
const BUCKETS = arn('s3', '*', { region: false, account: false });

const MANAGED_POLICY = (name: string) => `arn:\${AWS::Partition}:iam::aws:policy/${name}`;

/**
 * The stack's own resources, filled in by the constructs (`Fn::Sub` variables): the lab registry
 * table, its stream, the progress event bus and the lifecycle's dead-letter queue.
 */
export const STACK_RESOURCES = {
  registryTable: '${RegistryTableArn}',
  registryStream: '${RegistryStreamArn}',
  eventBus: '${EventBusArn}',
  deadLetterQueue: '${LifecycleDeadLetterQueueArn}',
} as const;
export type StackResourceVariable =
  'RegistryTableArn' | 'RegistryStreamArn' | 'EventBusArn' | 'LifecycleDeadLetterQueueArn';

/** A workflow's state machine, by its fixed name `<stack>-<workflow>` (infra/constructs/lab-workflows.ts). */
export const stateMachineArn = (workflow: string) =>
  arn('states', `stateMachine:\${AWS::StackName}-${workflow}`);

// ---------------------------------------------------------------- conditions
const TAG_MANAGED_BY = 'session-lab:managed-by';
/** Resources session-lab created carry this tag (shared/tags.ts); mutations are limited to them. */
const TAGGED_BY_LAB = { StringEquals: { [`aws:ResourceTag/${TAG_MANAGED_BY}`]: 'session-lab' } };
/** A create call must tag the new resource as session-lab's. */
const TAGGING_AS_LAB = { StringEquals: { [`aws:RequestTag/${TAG_MANAGED_BY}`]: 'session-lab' } };
const passedTo = (service: string) => ({ StringEquals: { 'iam:PassedToService': service } });
const createdBy = (...calls: string[]) => ({ StringEquals: { 'ec2:CreateAction': calls } });

/**
 * Why each ARN pattern with a wildcard is as narrow as it can be: cdk-nag (AwsSolutions-IAM5)
 * requires a written reason for every one, and the construct fails when a pattern has none here.
 */
export const WILDCARD_PATTERN_REASONS: Record<string, string> = {
  [WORKSHOP_USERS]:
    'one workshop user per lab, named MyWorkshopUser-<labId>; the lab id is known only at run time',
  [WORKSHOP_POLICIES]: 'one SSMDevAccess-<labId> policy per lab; the lab id is known only at run time',
  [BOOTSTRAP_ROLES]:
    'one bootstrap role per lab, named SessionLabBootstrap-<labId>; the lab id is known only at run time',
  [BOOTSTRAP_PROFILES]:
    'one bootstrap instance profile per lab, named SessionLabBootstrap-<labId>; the lab id is known only at run time',
  [DEV_HOST_ROLES]:
    'one Dev EC2 host role per lab, named SessionLabDevHost-<labId>; the lab id is known only at run time',
  [DEV_HOST_PROFILES]:
    'one Dev EC2 host instance profile per lab, named SessionLabDevHost-<labId>; the lab id is known only at run time',
  [DEV_NODE_ROLES]:
    'one Dev hybrid node role per lab, named SessionLabDevNode-<labId>; the lab id is known only at run time',
  [LAB_PARAMETERS]: "the lab's SecureString parameters live under /session-lab/<labId>/; only that tree",
  [ACTIVATIONS]:
    'activation ids are assigned by CreateActivation; tagging is limited to the session-lab tag (condition)',
  [LAB_SECRETS]: "the lab's password secrets are named session-lab/<labId>/...; only those",
  [WORKSHOP_SESSIONS]: 'session ids of the workshop users start with MyWorkshopUser-; ids are random',
  [LOG_GROUPS]: 'DescribeLogGroups only (a list across groups, authorized against no particular group)',
  [arn('logs', 'log-group:SSM-Logs:*')]: "the seed's session log group SSM-Logs and its streams",
  [SESSION_LOG_GROUP_PATTERN]:
    'session log groups are lab input (logGroupName), allowed only under /session-lab/ (or SSM-Logs)',
  [BUCKETS]:
    'the session log bucket is lab input (s3BucketName); only buckets of the account (s3:ResourceAccount condition)',
  [AMI_PARAMETERS]: 'the public Amazon Linux AMI parameters (read only)',
  [ssmArn('managed-instance/*')]:
    'mi- node ids are assigned at registration; narrowed to the lab by its tags in code',
  [ec2Arn('instance/*')]:
    'instance ids are assigned at launch; mutations require the session-lab tag (condition)',
  [ec2Arn('key-pair/*')]:
    'key pair ids are assigned at creation; mutations require the session-lab tag (condition)',
  [ec2Arn('security-group/*')]:
    'group ids are assigned at creation; mutations require the session-lab tag (condition)',
  [ec2Arn('vpc/*')]: 'the VPC is the default one or lab input; only CreateSecurityGroup uses it',
  [ec2Arn('subnet/*')]: 'the subnet is the default one or lab input; only RunInstances uses it',
  [ec2Arn('volume/*')]: 'root volumes are created by RunInstances; their ids are not known before',
  [ec2Arn('network-interface/*')]: 'interfaces are created by RunInstances; their ids are not known before',
  [arn('ec2', 'image/*', { account: false })]: 'the AMI id is resolved at run time from the public parameter',
};

/**
 * Actions that accept no resource narrower than `'*'` (Service Authorization Reference: no
 * resource type, or list/describe calls). A grant on `'*'` may hold only these.
 */
export const WILDCARD_ONLY_ACTIONS: Record<string, string> = {
  'ec2:DescribeInstances': 'EC2 Describe* calls support no resource-level permissions',
  'ec2:DescribeInstanceStatus': 'EC2 Describe* calls support no resource-level permissions',
  'ec2:DescribeKeyPairs': 'EC2 Describe* calls support no resource-level permissions',
  'ec2:DescribeSecurityGroups': 'EC2 Describe* calls support no resource-level permissions',
  'ec2:DescribeSecurityGroupRules': 'EC2 Describe* calls support no resource-level permissions',
  'ec2:DescribeVpcs': 'EC2 Describe* calls support no resource-level permissions',
  'ec2:DescribeSubnets': 'EC2 Describe* calls support no resource-level permissions',
  'ec2:DescribeImages': 'EC2 Describe* calls support no resource-level permissions',
  'ec2:DescribeInstanceTypeOfferings': 'EC2 Describe* calls support no resource-level permissions',
  'ssm:DescribeInstanceInformation': 'a list call with no resource type',
  'ssm:DescribeActivations': 'a list call with no resource type',
  'ssm:CreateActivation': 'CreateActivation has no resource type (narrowed by a request-tag condition)',
  'ssm:DeleteActivation': 'DeleteActivation has no resource type',
  'ssm:DescribeSessions': 'a list call with no resource type',
  'ssm:GetCommandInvocation': 'command invocations have no resource type',
  'ssm:ListCommandInvocations': 'a list call with no resource type',
  'ssm:ListCommands': 'a list call with no resource type',
  'dynamodb:ListStreams':
    'ListStreams has no resource type (the Lambda event source mapping lists the table’s streams)',
  'iam:GetAccountPasswordPolicy': 'an account-level read with no resource type',
  'iam:ListAccountAliases': 'an account-level read with no resource type',
  'cloudtrail:LookupEvents': 'LookupEvents has no resource type',
};

// ---------------------------------------------------------------- shared grant sets
/** shared/names.ts SUPERSEDED_POLICY_NAMES: what converging a shared role detaches. */
const SUPERSEDED_ROLE_POLICIES = ['service-role/AmazonEC2RoleforSSM', 'CloudWatchAgentServerPolicy'];

const ssmRoleGrants = (roleArn: string, policies: string[]): Grant[] => [
  {
    why: 'converge the shared role: create, read back, rewrite a differing trust policy, tag',
    actions: [
      'iam:CreateRole',
      'iam:GetRole',
      'iam:TagRole',
      'iam:UpdateAssumeRolePolicy',
      'iam:ListAttachedRolePolicies',
    ],
    resources: [roleArn],
  },
  {
    why: 'attach exactly the managed policies the lab needs; detach superseded ones (AmazonEC2RoleforSSM, CloudWatchAgentServerPolicy)',
    actions: ['iam:AttachRolePolicy', 'iam:DetachRolePolicy'],
    resources: [roleArn],
    conditions: {
      ArnEquals: {
        'iam:PolicyARN': [...policies, ...SUPERSEDED_ROLE_POLICIES].map(MANAGED_POLICY),
      },
    },
  },
  {
    why: 'put and read back the host guard (shared/host-guard.ts), an inline explicit deny',
    actions: ['iam:GetRolePolicy', 'iam:PutRolePolicy'],
    resources: [roleArn],
  },
];

/**
 * Converging one kind of lab role under its permissions boundary (shared/lab-roles.ts): every write
 * that gives the role something only while the role holds (or is created with) the boundary; the
 * boundary is never removed.
 */
const boundedLabRoleGrants = (what: string, roleArn: string, boundary: Record<string, string>): Grant[] => [
  {
    why: `converge ${what} (shared/lab-roles.ts): tag it, its trust policy, read it back`,
    actions: [
      'iam:GetRole',
      'iam:TagRole',
      'iam:UpdateAssumeRolePolicy',
      'iam:ListAttachedRolePolicies',
      'iam:GetRolePolicy',
    ],
    resources: [roleArn],
  },
  {
    why: `create ${what}, put its inline policies (guard, session logging), or put the boundary on a role of an earlier release: only with its boundary`,
    actions: ['iam:CreateRole', 'iam:PutRolePolicy', 'iam:PutRolePermissionsBoundary'],
    resources: [roleArn],
    conditions: { StringEquals: boundary },
  },
  {
    why: `${what} holds AmazonSSMManagedInstanceCore only (to be a managed node), attached under the boundary`,
    actions: ['iam:AttachRolePolicy'],
    resources: [roleArn],
    conditions: {
      ArnEquals: { 'iam:PolicyARN': MANAGED_POLICY('AmazonSSMManagedInstanceCore') },
      StringEquals: boundary,
    },
  },
  {
    why: `detach the superseded managed policies from ${what} (a removal: no boundary condition)`,
    actions: ['iam:DetachRolePolicy'],
    resources: [roleArn],
    conditions: {
      ArnEquals: {
        'iam:PolicyARN': ['AmazonSSMManagedInstanceCore', ...SUPERSEDED_ROLE_POLICIES].map(MANAGED_POLICY),
      },
    },
  },
];

/** Removing one kind of lab role, and its instance profile when it has one (shared/lab-roles.ts). */
const labRoleRemoval = (what: string, roleArn: string, profileArn?: string): Grant[] => [
  ...(profileArn
    ? [
        {
          why: `remove ${what}'s instance profile (shared/lab-roles.ts)`,
          actions: [
            'iam:GetInstanceProfile',
            'iam:RemoveRoleFromInstanceProfile',
            'iam:DeleteInstanceProfile',
          ],
          resources: [profileArn],
        },
      ]
    : []),
  {
    why: `remove ${what}: its policies, then the role`,
    actions: [
      'iam:ListRolePolicies',
      'iam:DeleteRolePolicy',
      'iam:ListAttachedRolePolicies',
      'iam:DetachRolePolicy',
      'iam:DeleteRole',
    ],
    resources: [roleArn],
  },
];

const labParameters = (why: string, ...actions: string[]): Grant => ({
  why,
  actions,
  resources: [LAB_PARAMETERS],
});

const ec2Reads = (why: string, ...actions: string[]): Grant => ({ why, actions, resources: ['*'] });

const registry = (why: string, ...actions: string[]): Grant => ({
  why,
  actions: actions.map((action) => `dynamodb:${action}`),
  resources: [STACK_RESOURCES.registryTable],
});

const startWorkflow = (why: string, ...workflows: string[]): Grant => ({
  why,
  actions: ['states:StartExecution'],
  resources: workflows.map(stateMachineArn),
});

export const PERMISSIONS: Record<LabFunctionName, Grant[]> = {
  'validate-lab-input': [
    {
      why: 's3BucketName must be a bucket of the account: the check call names the expected owner',
      actions: ['s3:GetEncryptionConfiguration'],
      resources: [BUCKETS],
      conditions: { StringEquals: { 's3:ResourceAccount': '${AWS::AccountId}' } },
    },
  ],

  'create-instance-role': [
    ...ssmRoleGrants(LAB_ROLE_ARNS.instanceRole, ['AmazonSSMManagedInstanceCore']),
    {
      why: 'converge SSMLabProfile and put SSMLabRole in it',
      actions: [
        'iam:CreateInstanceProfile',
        'iam:GetInstanceProfile',
        'iam:TagInstanceProfile',
        'iam:AddRoleToInstanceProfile',
      ],
      resources: [LAB_ROLE_ARNS.instanceProfile],
    },
    {
      why: 'AddRoleToInstanceProfile requires passing the role, which EC2 then uses',
      actions: ['iam:PassRole'],
      resources: [LAB_ROLE_ARNS.instanceRole],
      conditions: passedTo('ec2.amazonaws.com'),
    },
    registry(
      'mark the shared role ready for the holding (first holder), or read that mark (the other labs)',
      'GetItem',
      'PutItem',
    ),
  ],

  'create-service-role': [
    ...ssmRoleGrants(LAB_ROLE_ARNS.serviceRole, ['AmazonSSMManagedInstanceCore']),
    registry(
      'mark the shared role ready for the holding (first holder), or read that mark (the other labs)',
      'GetItem',
      'PutItem',
    ),
  ],

  'create-activations': [
    {
      why: 'create the per-environment activations, tagged as the lab’s at creation',
      actions: ['ssm:CreateActivation'],
      resources: ['*'],
      conditions: TAGGING_AS_LAB,
    },
    {
      why: 'CreateActivation with Tags also needs AddTagsToResource on the new activation',
      actions: ['ssm:AddTagsToResource'],
      resources: [ACTIVATIONS],
      conditions: TAGGING_AS_LAB,
    },
    {
      why: 'find existing activations (converge) and replace an expired or spent one',
      actions: ['ssm:DescribeActivations', 'ssm:DeleteActivation'],
      resources: ['*'],
    },
    {
      why: 'skip an environment whose on-prem hosts are registered already: the lab’s Online nodes',
      actions: ['ssm:DescribeInstanceInformation'],
      resources: ['*'],
    },
    ec2Reads('the lab’s on-prem hosts that are up, to match their nodes by address', 'ec2:DescribeInstances'),
    {
      why: 'CreateActivation hands SSMServiceRole to Systems Manager (the Prod activation)',
      actions: ['iam:PassRole'],
      resources: [LAB_ROLE_ARNS.serviceRole],
      conditions: passedTo('ssm.amazonaws.com'),
    },
    ...boundedLabRoleGrants(
      'the Dev hybrid node’s own role (shared/dev-host-roles.ts)',
      DEV_NODE_ROLES,
      WITH_DEV_HOST_BOUNDARY,
    ),
    {
      why: 'CreateActivation hands the lab’s Dev node role to Systems Manager (the Dev activation)',
      actions: ['iam:PassRole'],
      resources: [DEV_NODE_ROLES],
      conditions: passedTo('ssm.amazonaws.com'),
    },
    labParameters(
      'write each activation code straight to its SecureString parameter, tagged',
      'ssm:PutParameter',
      'ssm:GetParameter',
      'ssm:GetParametersByPath',
      'ssm:DeleteParameter',
      'ssm:AddTagsToResource',
    ),
  ],

  'create-key-pair': [
    {
      why: 'create the lab key pair, tagged as the lab’s',
      actions: ['ec2:CreateKeyPair'],
      resources: [ec2Arn('key-pair/*')],
      conditions: TAGGING_AS_LAB,
    },
    {
      why: 'tag the key pair in the CreateKeyPair call',
      actions: ['ec2:CreateTags'],
      resources: [ec2Arn('key-pair/*')],
      conditions: createdBy('CreateKeyPair'),
    },
    {
      why: 'recreate a key pair whose private key was lost (InvalidKeyPair.Duplicate)',
      actions: ['ec2:DeleteKeyPair'],
      resources: [ec2Arn('key-pair/*')],
      conditions: TAGGED_BY_LAB,
    },
    ec2Reads('find the key pair', 'ec2:DescribeKeyPairs'),
    labParameters(
      'write the private key straight to its SecureString parameter, tagged',
      'ssm:PutParameter',
      'ssm:GetParameter',
      'ssm:DeleteParameter',
      'ssm:AddTagsToResource',
    ),
  ],

  'create-network': [
    {
      why: 'create the bootstrap and on-prem security groups, tagged as the lab’s',
      actions: ['ec2:CreateSecurityGroup'],
      resources: [ec2Arn('security-group/*')],
      conditions: TAGGING_AS_LAB,
    },
    {
      why: 'CreateSecurityGroup is also authorized against the VPC it is created in',
      actions: ['ec2:CreateSecurityGroup'],
      resources: [ec2Arn('vpc/*')],
    },
    {
      why: 'tag the security groups in the CreateSecurityGroup call',
      actions: ['ec2:CreateTags'],
      resources: [ec2Arn('security-group/*')],
      conditions: createdBy('CreateSecurityGroup'),
    },
    {
      why: 'SSH from the bootstrap group only (stray rules revoked); outbound 443',
      actions: [
        'ec2:AuthorizeSecurityGroupIngress',
        'ec2:RevokeSecurityGroupIngress',
        'ec2:AuthorizeSecurityGroupEgress',
        'ec2:RevokeSecurityGroupEgress',
      ],
      resources: [ec2Arn('security-group/*')],
      conditions: TAGGED_BY_LAB,
    },
    ec2Reads(
      'find the default VPC, a subnet whose zone offers the instance type, and the existing groups',
      'ec2:DescribeInstanceTypeOfferings',
      'ec2:DescribeVpcs',
      'ec2:DescribeSubnets',
      'ec2:DescribeSecurityGroups',
      'ec2:DescribeSecurityGroupRules',
    ),
  ],

  'launch-instances': [
    {
      why: 'launch the hosts; every instance is tagged as the lab’s at launch',
      actions: ['ec2:RunInstances'],
      resources: [ec2Arn('instance/*')],
      conditions: TAGGING_AS_LAB,
    },
    {
      why: 'RunInstances is also authorized against the AMI, subnet, groups, key, volumes and interfaces it uses',
      actions: ['ec2:RunInstances'],
      resources: [
        arn('ec2', 'image/*', { account: false }),
        ec2Arn('subnet/*'),
        ec2Arn('security-group/*'),
        ec2Arn('key-pair/*'),
        ec2Arn('volume/*'),
        ec2Arn('network-interface/*'),
      ],
    },
    {
      why: 'tag instances and volumes in the RunInstances call',
      actions: ['ec2:CreateTags'],
      resources: [ec2Arn('instance/*'), ec2Arn('volume/*'), ec2Arn('network-interface/*')],
      conditions: createdBy('RunInstances'),
    },
    {
      why: 'keep one host per role: terminate duplicates (a lost launch response), only session-lab’s',
      actions: ['ec2:TerminateInstances'],
      resources: [ec2Arn('instance/*')],
      conditions: TAGGED_BY_LAB,
    },
    {
      why: 'the EC2 hosts get SSMLabProfile, whose role is passed to EC2',
      actions: ['iam:PassRole'],
      resources: [LAB_ROLE_ARNS.instanceRole],
      conditions: passedTo('ec2.amazonaws.com'),
    },
    ...boundedLabRoleGrants('the bootstrap host’s own role', BOOTSTRAP_ROLES, WITH_BOOTSTRAP_BOUNDARY),
    {
      why: 'the bootstrap host’s own instance profile, holding its role',
      actions: [
        'iam:CreateInstanceProfile',
        'iam:GetInstanceProfile',
        'iam:TagInstanceProfile',
        'iam:AddRoleToInstanceProfile',
      ],
      resources: [BOOTSTRAP_PROFILES],
    },
    {
      why: 'the bootstrap host gets its own profile, whose role is passed to EC2',
      actions: ['iam:PassRole'],
      resources: [BOOTSTRAP_ROLES],
      conditions: passedTo('ec2.amazonaws.com'),
    },
    ...boundedLabRoleGrants(
      'the Dev EC2 host’s own role (shared/dev-host-roles.ts)',
      DEV_HOST_ROLES,
      WITH_DEV_HOST_BOUNDARY,
    ),
    {
      why: 'the Dev EC2 host’s own instance profile, holding its role',
      actions: [
        'iam:CreateInstanceProfile',
        'iam:GetInstanceProfile',
        'iam:TagInstanceProfile',
        'iam:AddRoleToInstanceProfile',
      ],
      resources: [DEV_HOST_PROFILES],
    },
    {
      why: 'the Dev EC2 host gets its own profile, whose role is passed to EC2',
      actions: ['iam:PassRole'],
      resources: [DEV_HOST_ROLES],
      conditions: passedTo('ec2.amazonaws.com'),
    },
    {
      why: 'resolve the current Amazon Linux 2023 AMI from its public parameter',
      actions: ['ssm:GetParameter', 'ssm:GetParameters'],
      resources: [AMI_PARAMETERS],
    },
    ec2Reads(
      'find the lab’s hosts already up, whatever run launched them (converge)',
      'ec2:DescribeInstances',
      'ec2:DescribeImages',
    ),
  ],

  'wait-for-instances': [
    ec2Reads('instance states', 'ec2:DescribeInstances', 'ec2:DescribeInstanceStatus'),
    {
      why: 'EC2 hosts Online in Systems Manager',
      actions: ['ssm:DescribeInstanceInformation'],
      resources: ['*'],
    },
  ],

  'register-agents': [
    {
      why: 'run the registration script on the lab’s bootstrap host only',
      actions: ['ssm:SendCommand'],
      resources: [ec2Arn('instance/*')],
      conditions: { StringEquals: { [`ssm:resourceTag/${TAG_MANAGED_BY}`]: 'session-lab' } },
    },
    {
      why: 'the script runs through AWS-RunShellScript',
      actions: ['ssm:SendCommand'],
      resources: [RUN_SHELL_SCRIPT],
    },
    {
      why: 'hosts with an Online node of the lab are left out; the bootstrap host must be Online; a command already sent is reused',
      actions: ['ssm:DescribeInstanceInformation', 'ssm:ListCommands'],
      resources: ['*'],
    },
    ec2Reads('the hosts’ private addresses', 'ec2:DescribeInstances'),
    labParameters(
      'check that the code and key parameters exist (never read their values)',
      'ssm:GetParameter',
    ),
  ],

  'wait-for-registration': [
    {
      why: 'the registration command’s status and output (mi- ids)',
      actions: ['ssm:GetCommandInvocation', 'ssm:ListCommandInvocations', 'ssm:DescribeInstanceInformation'],
      resources: ['*'],
    },
    {
      why: 'tag the registered nodes (Environment, lab id) when the activation tags did not',
      actions: ['ssm:AddTagsToResource', 'ssm:ListTagsForResource'],
      resources: [ssmArn('managed-instance/*')],
    },
  ],

  'close-bootstrap-access': [
    {
      why: 'remove the SSH rule from the lab’s groups',
      actions: ['ec2:RevokeSecurityGroupIngress'],
      resources: [ec2Arn('security-group/*')],
      conditions: TAGGED_BY_LAB,
    },
    {
      why: 'delete the bootstrap key pair and stop the bootstrap host',
      actions: ['ec2:DeleteKeyPair', 'ec2:TerminateInstances'],
      resources: [ec2Arn('key-pair/*'), ec2Arn('instance/*')],
      conditions: TAGGED_BY_LAB,
    },
    ec2Reads(
      'read the groups, key and host back',
      'ec2:DescribeSecurityGroups',
      'ec2:DescribeSecurityGroupRules',
      'ec2:DescribeKeyPairs',
      'ec2:DescribeInstances',
    ),
    labParameters(
      'delete the private key parameter and, registration done, the activation code parameters (by name)',
      'ssm:DeleteParameter',
      'ssm:GetParameter',
    ),
    {
      why: 'registration done: find the lab’s activations (by its host names and tag) and delete them',
      actions: ['ssm:DescribeActivations', 'ssm:DeleteActivation'],
      resources: ['*'],
    },
  ],

  'enable-advanced-tier': [
    {
      why: 'switch the account’s activation tier to advanced',
      actions: ['ssm:GetServiceSetting', 'ssm:UpdateServiceSetting'],
      resources: [ACTIVATION_TIER],
    },
  ],

  'wait-for-advanced-tier': [
    { why: 'read the activation tier', actions: ['ssm:GetServiceSetting'], resources: [ACTIVATION_TIER] },
  ],

  'configure-session-logging': [
    {
      why: 'create or reconcile the session log group (retention, KMS key, tags), only the names a lab may use',
      actions: [
        'logs:CreateLogGroup',
        'logs:PutRetentionPolicy',
        'logs:AssociateKmsKey',
        'logs:TagResource',
        'logs:TagLogGroup',
        'logs:ListTagsForResource',
      ],
      resources: SESSION_LOG_GROUPS,
    },
    { why: 'find the session log group', actions: ['logs:DescribeLogGroups'], resources: [LOG_GROUPS] },
    {
      why: 'create or update the Session Manager preferences document and make it the default',
      actions: [
        'ssm:CreateDocument',
        'ssm:UpdateDocument',
        'ssm:UpdateDocumentDefaultVersion',
        'ssm:DescribeDocument',
        'ssm:GetDocument',
        'ssm:ListDocumentVersions',
        'ssm:AddTagsToResource',
      ],
      resources: [PREFERENCES_DOCUMENT],
    },
    {
      why: 'give the shared roles the session logging grants their nodes need (one inline policy, read first)',
      actions: ['iam:GetRolePolicy', 'iam:PutRolePolicy'],
      resources: [LAB_ROLE_ARNS.instanceRole, LAB_ROLE_ARNS.serviceRole],
    },
    {
      why: 'read the lab’s own Dev host roles (whether they exist yet, under their boundary) and their session logging policy (shared/dev-host-roles.ts)',
      actions: ['iam:GetRole', 'iam:GetRolePolicy'],
      resources: [DEV_HOST_ROLES, DEV_NODE_ROLES],
    },
    {
      why: 'give the lab’s own Dev host roles, when they exist, the logging policy of its current settings: only roles under the Dev host boundary',
      actions: ['iam:PutRolePolicy'],
      resources: [DEV_HOST_ROLES, DEV_NODE_ROLES],
      conditions: { StringEquals: WITH_DEV_HOST_BOUNDARY },
    },
  ],

  'create-workshop-user': [
    {
      why: 'the lab’s workshop user and its console password',
      actions: [
        'iam:CreateUser',
        'iam:GetUser',
        'iam:TagUser',
        'iam:CreateLoginProfile',
        'iam:UpdateLoginProfile',
        'iam:GetLoginProfile',
        'iam:ListAttachedUserPolicies',
      ],
      resources: [WORKSHOP_USERS],
    },
    {
      why: 'attach only the lab policy and IAMUserChangePassword',
      actions: ['iam:AttachUserPolicy'],
      resources: [WORKSHOP_USERS],
      conditions: {
        ArnLike: { 'iam:PolicyARN': [WORKSHOP_POLICIES, MANAGED_POLICY('IAMUserChangePassword')] },
      },
    },
    {
      why: 'detach the seed’s read-only managed policies from a user of an earlier release (every student’s transcripts, all account activity)',
      actions: ['iam:DetachUserPolicy'],
      resources: [WORKSHOP_USERS],
      conditions: {
        ArnEquals: {
          'iam:PolicyARN': [
            MANAGED_POLICY('CloudWatchLogsReadOnlyAccess'),
            MANAGED_POLICY('AWSCloudTrail_ReadOnlyAccess'),
          ],
        },
      },
    },
    {
      why: 'the tag-based SSMDevAccess policy, updated in place by a new version (at most 5)',
      actions: [
        'iam:CreatePolicy',
        'iam:GetPolicy',
        'iam:GetPolicyVersion',
        'iam:CreatePolicyVersion',
        'iam:ListPolicyVersions',
        'iam:DeletePolicyVersion',
        'iam:TagPolicy',
      ],
      resources: [WORKSHOP_POLICIES],
    },
    {
      why: 'generate a password that satisfies the account policy',
      actions: ['iam:GetAccountPasswordPolicy'],
      resources: ['*'],
    },
    {
      why: 'the password goes straight to Secrets Manager; only the ARN leaves the task',
      actions: [
        'secretsmanager:CreateSecret',
        'secretsmanager:PutSecretValue',
        'secretsmanager:DescribeSecret',
        'secretsmanager:TagResource',
        'secretsmanager:DeleteSecret',
      ],
      resources: [LAB_SECRETS],
    },
  ],

  'verify-lab': [
    {
      why: 'the access matrix from the IAM policy simulator, and the user and its password read back',
      actions: [
        'iam:SimulatePrincipalPolicy',
        'iam:GetUser',
        'iam:GetLoginProfile',
        'iam:ListAttachedUserPolicies',
      ],
      resources: [WORKSHOP_USERS],
    },
    { why: 'the lab policy read back', actions: ['iam:GetPolicy'], resources: [WORKSHOP_POLICIES] },
    {
      why: 'the sign-in URL uses the account alias when there is one',
      actions: ['iam:ListAccountAliases'],
      resources: ['*'],
    },
    {
      why: 'nodes and their ping status, session history',
      actions: ['ssm:DescribeInstanceInformation', 'ssm:DescribeSessions'],
      resources: ['*'],
    },
    {
      why: 'node tags (Environment) for the matrix',
      actions: ['ssm:ListTagsForResource'],
      resources: [ssmArn('managed-instance/*')],
    },
    {
      why: 'the preferences read back',
      actions: ['ssm:GetDocument', 'ssm:DescribeDocument'],
      resources: [PREFERENCES_DOCUMENT],
    },
    { why: 'the log group read back', actions: ['logs:DescribeLogGroups'], resources: [LOG_GROUPS] },
    { why: 'StartSession events (seed 6)', actions: ['cloudtrail:LookupEvents'], resources: ['*'] },
    ec2Reads('EC2 hosts and their tags', 'ec2:DescribeInstances'),
    {
      why: 'report where the password is kept (never its value)',
      actions: ['secretsmanager:DescribeSecret'],
      resources: [LAB_SECRETS],
    },
  ],

  'terminate-sessions': [
    { why: 'the lab user’s active sessions', actions: ['ssm:DescribeSessions'], resources: ['*'] },
    { why: 'end them', actions: ['ssm:TerminateSession'], resources: [WORKSHOP_SESSIONS] },
  ],

  'deregister-nodes': [
    {
      why: 'find the lab’s mi- nodes by tag',
      actions: ['ssm:DescribeInstanceInformation'],
      resources: ['*'],
    },
    {
      why: 'deregister them',
      actions: ['ssm:DeregisterManagedInstance', 'ssm:ListTagsForResource'],
      resources: [ssmArn('managed-instance/*')],
    },
  ],

  'delete-activations': [
    {
      why: 'find the lab’s activations by tag and delete them',
      actions: ['ssm:DescribeActivations', 'ssm:DeleteActivation'],
      resources: ['*'],
    },
    labParameters(
      'delete the activation code parameters',
      'ssm:GetParametersByPath',
      'ssm:DeleteParameter',
      'ssm:DeleteParameters',
    ),
  ],

  'terminate-instances': [
    ec2Reads('find the lab’s instances by tag (a poll until terminated)', 'ec2:DescribeInstances'),
    {
      why: 'terminate only instances session-lab tagged',
      actions: ['ec2:TerminateInstances'],
      resources: [ec2Arn('instance/*')],
      conditions: TAGGED_BY_LAB,
    },
  ],

  'delete-network': [
    ec2Reads(
      'find the lab’s groups and key pair by tag',
      'ec2:DescribeSecurityGroups',
      'ec2:DescribeKeyPairs',
    ),
    {
      why: 'delete the lab’s security groups (rules first) and key pair',
      actions: ['ec2:DeleteSecurityGroup', 'ec2:RevokeSecurityGroupIngress', 'ec2:DeleteKeyPair'],
      resources: [ec2Arn('security-group/*'), ec2Arn('key-pair/*')],
      conditions: TAGGED_BY_LAB,
    },
    labParameters('delete the private key parameter', 'ssm:DeleteParameter', 'ssm:GetParametersByPath'),
    ...labRoleRemoval('the bootstrap host’s own role', BOOTSTRAP_ROLES, BOOTSTRAP_PROFILES),
    ...labRoleRemoval('the Dev EC2 host’s own role', DEV_HOST_ROLES, DEV_HOST_PROFILES),
    ...labRoleRemoval('the Dev hybrid node’s own role (it has no instance profile)', DEV_NODE_ROLES),
  ],

  'acquire-shared-resources': [
    registry(
      'take the lab’s references on the singletons (conditional updates) and read them back',
      'GetItem',
      'UpdateItem',
    ),
    {
      why: 'record the account’s tier before session-lab changes it (what a revert restores)',
      actions: ['ssm:GetServiceSetting'],
      resources: [ACTIVATION_TIER],
    },
    {
      why: 'record the account’s preferences document before session-lab changes it',
      actions: ['ssm:GetDocument'],
      resources: [PREFERENCES_DOCUMENT],
    },
  ],

  'release-shared-resources': [
    registry(
      'give the lab’s references back (conditional updates), find them by holder, claim and finish a revert',
      'GetItem',
      'UpdateItem',
      'Scan',
    ),
    {
      why: 'the last holder resets the activation tier (REVERT_SHARED_ON_LAST_RELEASE)',
      actions: ['ssm:ResetServiceSetting'],
      resources: [ACTIVATION_TIER],
    },
    {
      why: 'the last holder restores the preferences document the account had, or deletes it',
      actions: [
        'ssm:UpdateDocument',
        'ssm:UpdateDocumentDefaultVersion',
        'ssm:CreateDocument',
        'ssm:DeleteDocument',
      ],
      resources: [PREFERENCES_DOCUMENT],
    },
    {
      why: 'with the preferences, the last holder takes the session logging grants back from the shared roles',
      actions: ['iam:DeleteRolePolicy'],
      resources: [LAB_ROLE_ARNS.instanceRole, LAB_ROLE_ARNS.serviceRole],
    },
  ],

  'record-lab-status': [
    registry(
      'set the lab’s status (optimistic update); register a lab first seen in a console run',
      'GetItem',
      'UpdateItem',
      'PutItem',
    ),
  ],

  'reset-due-labs': [
    registry(
      'find the labs due (Scan), change each under the optimistic lock, re-record a lab TTL purged',
      'Scan',
      'GetItem',
      'UpdateItem',
      'PutItem',
    ),
    startWorkflow('tear down expired labs and reset nightly ones', 'teardown-lab', 'reset-lab'),
    {
      why: 'the event source mapping reads the registry’s stream (TTL removals)',
      actions: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'],
      resources: [STACK_RESOURCES.registryStream],
    },
    {
      why: 'the event source mapping lists the table’s streams',
      actions: ['dynamodb:ListStreams'],
      resources: ['*'],
    },
    {
      why: 'the event source mapping sends a batch it could not process to the dead-letter queue',
      actions: ['sqs:SendMessage'],
      resources: [STACK_RESOURCES.deadLetterQueue],
    },
  ],

  'delete-workshop-user': [
    {
      why: 'delete the user after everything attached to it',
      actions: [
        'iam:GetUser',
        'iam:DeleteLoginProfile',
        'iam:ListAttachedUserPolicies',
        'iam:DetachUserPolicy',
        'iam:ListUserPolicies',
        'iam:DeleteUserPolicy',
        'iam:ListAccessKeys',
        'iam:DeleteAccessKey',
        'iam:ListGroupsForUser',
        'iam:RemoveUserFromGroup',
        // Credentials an administrator may have added; any one left fails DeleteUser.
        'iam:ListMFADevices',
        'iam:DeactivateMFADevice',
        'iam:ListSSHPublicKeys',
        'iam:DeleteSSHPublicKey',
        'iam:ListSigningCertificates',
        'iam:DeleteSigningCertificate',
        'iam:DeleteUser',
      ],
      resources: [WORKSHOP_USERS],
    },
    {
      why: 'delete the lab policy after its non-default versions',
      actions: [
        'iam:GetPolicy',
        'iam:ListEntitiesForPolicy',
        'iam:ListPolicyVersions',
        'iam:DeletePolicyVersion',
        'iam:DeletePolicy',
      ],
      resources: [WORKSHOP_POLICIES],
    },
    {
      why: 'delete the password secret',
      actions: ['secretsmanager:DescribeSecret', 'secretsmanager:DeleteSecret'],
      resources: [LAB_SECRETS],
    },
  ],
};

/**
 * What every task's handler wrapper calls when the deployment has a lab registry (REGISTRY_TABLE):
 * the step-progress middleware (functions/shared/registry-progress.ts) records each step on the
 * lab's item and publishes a progress event. Granted only with a registry (`LabFunctions`'
 * `registry` prop), on its table and event bus.
 */
export const PROGRESS_ACTIONS = {
  table: ['dynamodb:UpdateItem'],
  bus: ['events:PutEvents'],
} as const;

/**
 * The portal API's functions (functions/api/<route>): each reads or writes the registry as its
 * route needs and starts only its own workflow. The source scan follows a class by the methods
 * used, so these are checked against each route's source like the tasks' grants.
 */
export const API_PERMISSIONS: Record<ApiRouteName, Grant[]> = {
  'create-lab': [
    registry(
      'read the lab (idempotent replay, conflict), count the labs held (the caps) and record it',
      'GetItem',
      'PutItem',
      'Scan',
    ),
    startWorkflow('provision the lab', 'provision-lab'),
  ],
  'list-labs': [registry('list labs a page at a time (a filtered Scan)', 'Scan')],
  'get-lab': [registry('read one lab', 'GetItem')],
  'delete-lab': [
    registry('mark the lab tearing down under the optimistic lock', 'GetItem', 'UpdateItem'),
    startWorkflow('tear the lab down', 'teardown-lab'),
  ],
  'reset-lab': [
    registry('start a new generation under the optimistic lock', 'GetItem', 'UpdateItem'),
    startWorkflow('reset the lab', 'reset-lab'),
  ],
  'create-class': [
    registry(
      'check every lab id and the caps (the labs held), then record the labs',
      'GetItem',
      'PutItem',
      'Scan',
    ),
    startWorkflow('provision the class’s labs (one Map execution)', 'provision-class'),
  ],
};

/** Every IAM action a function's role is granted. */
export function grantedActions(name: LabFunctionName): Set<string> {
  return new Set(PERMISSIONS[name].flatMap((grant) => grant.actions));
}
