import { GetRoleCommand, GetUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { iamArn, withPath } from '../arns.js';
import { requestTagContext, tagKeysContext, tagMap } from '../context-keys.js';
import { anyResource, modelAll } from '../model.js';
import type { AuthRequest, OperationInput, OperationModel, ServiceModel } from '../model.js';

/**
 * IAM (prefix iam, global): users, roles, groups, policies and instance profiles. A resource named
 * by name is looked up for its real ARN (with its path) and tags; Attach/Detach*Policy carry
 * iam:PolicyARN, Tag* the request tags, and operations that hand a role to a service
 * (AddRoleToInstanceProfile) iam:PassRole. iam:PermissionsBoundary is the boundary a create call
 * or Put*PermissionsBoundary sets, and on the calls that change a role's or user's policies or
 * remove its boundary, the boundary it holds now (absent when it has none), as IAM evaluates it.
 */

type Kind = 'role' | 'user' | 'group' | 'instance-profile';
const FIELD: Record<Kind, string> = {
  role: 'RoleName',
  user: 'UserName',
  group: 'GroupName',
  'instance-profile': 'InstanceProfileName',
};

/** The principal or profile the call names; a user call without UserName is about the caller. */
function named(kind: Kind, op: OperationInput): string {
  const value = op.input[FIELD[kind]];
  if (value !== undefined) return String(value);
  if (kind === 'user' && op.caller.userName) return op.caller.userName;
  return '';
}

function on(
  kind: Kind,
  action: string,
  context?: (op: OperationInput) => AuthRequest['context'],
): OperationModel {
  return (op) => {
    const name = named(kind, op);
    return [
      {
        action,
        resource: iamArn(op.account, `${kind}/${name}`),
        context: context?.(op),
        existing: { kind: `iam-${kind}`, name },
      },
    ];
  };
}

/** Create*: the ARN from the request's path and name; the tags it sets are request tags. */
function create(kind: Kind, action: string): OperationModel {
  return (op) => [
    {
      action,
      resource: iamArn(op.account, `${kind}/${withPath(op.input.Path, named(kind, op))}`),
      context: requestTagContext(tagMap(op.input.Tags)),
    },
  ];
}

/** A model whose requests carry `context` too (beside what the model puts there). */
function withContext(
  model: OperationModel,
  context: (op: OperationInput) => Record<string, string>,
): OperationModel {
  return async (op) =>
    (await model(op)).map((request) => ({ ...request, context: { ...request.context, ...context(op) } }));
}

function policy(action: string, context?: (op: OperationInput) => AuthRequest['context']): OperationModel {
  return (op) => {
    const arn = String(op.input.PolicyArn ?? '');
    return [{ action, resource: arn, context: context?.(op), existing: { kind: 'iam-policy', arn } }];
  };
}

const policyArnKey = (op: OperationInput) => ({ 'iam:PolicyARN': String(op.input.PolicyArn ?? '') });

/** iam:PermissionsBoundary from the request (CreateRole, CreateUser, Put*PermissionsBoundary). */
const requestedBoundary = (op: OperationInput): Record<string, string> =>
  op.input.PermissionsBoundary !== undefined
    ? { 'iam:PermissionsBoundary': String(op.input.PermissionsBoundary) }
    : {};

/** The boundary the named role or user holds now, read from IAM; none for one that does not exist. */
async function heldBoundary(kind: 'role' | 'user', op: OperationInput): Promise<Record<string, string>> {
  const name = named(kind, op);
  const iam = op.ctx.moto(IAMClient, 'us-east-1');
  try {
    const entity =
      kind === 'role'
        ? (await iam.send(new GetRoleCommand({ RoleName: name }))).Role
        : (await iam.send(new GetUserCommand({ UserName: name }))).User;
    const arn = entity?.PermissionsBoundary?.PermissionsBoundaryArn;
    return arn ? { 'iam:PermissionsBoundary': arn } : {};
  } catch (err) {
    if (['NoSuchEntity', 'NoSuchEntityException'].includes((err as Error).name)) return {};
    throw err;
  }
}

/** `on(kind, action)` with iam:PermissionsBoundary the entity's current boundary, and more context. */
function onBounded(
  kind: 'role' | 'user',
  action: string,
  context: (op: OperationInput) => Record<string, string> = () => ({}),
): OperationModel {
  return async (op) => {
    const boundary = await heldBoundary(kind, op);
    return on(kind, action, () => ({ ...boundary, ...context(op) }))(op);
  };
}
const requestTags = (op: OperationInput) => requestTagContext(tagMap(op.input.Tags));
const removedTags = (op: OperationInput) => tagKeysContext(op.input.TagKeys);

/** Calls that act on a user (UserName, or the caller itself). */
const USER_ACTIONS = [
  'GetUser',
  'DeleteUser',
  'UpdateUser',
  'ListUserTags',
  'CreateLoginProfile',
  'UpdateLoginProfile',
  'GetLoginProfile',
  'DeleteLoginProfile',
  'ListAttachedUserPolicies',
  'PutUserPolicy',
  'GetUserPolicy',
  'DeleteUserPolicy',
  'ListUserPolicies',
  'PutUserPermissionsBoundary',
  'DeleteUserPermissionsBoundary',
  'CreateAccessKey',
  'DeleteAccessKey',
  'UpdateAccessKey',
  'ListAccessKeys',
  'ListGroupsForUser',
  'ListMFADevices',
  'DeactivateMFADevice',
  'ListSSHPublicKeys',
  'DeleteSSHPublicKey',
  'ListSigningCertificates',
  'DeleteSigningCertificate',
  'ListServiceSpecificCredentials',
  'DeleteServiceSpecificCredential',
];

const ROLE_ACTIONS = [
  'GetRole',
  'DeleteRole',
  'UpdateRole',
  'UpdateRoleDescription',
  'UpdateAssumeRolePolicy',
  'ListRoleTags',
  'PutRolePolicy',
  'GetRolePolicy',
  'DeleteRolePolicy',
  'ListRolePolicies',
  'ListAttachedRolePolicies',
  'PutRolePermissionsBoundary',
  'DeleteRolePermissionsBoundary',
  'ListInstanceProfilesForRole',
];

const GROUP_ACTIONS = [
  'GetGroup',
  'DeleteGroup',
  'PutGroupPolicy',
  'GetGroupPolicy',
  'DeleteGroupPolicy',
  'ListGroupPolicies',
  'ListAttachedGroupPolicies',
];

const POLICY_ACTIONS = [
  'GetPolicy',
  'DeletePolicy',
  'CreatePolicyVersion',
  'DeletePolicyVersion',
  'GetPolicyVersion',
  'ListPolicyVersions',
  'SetDefaultPolicyVersion',
  'ListEntitiesForPolicy',
  'ListPolicyTags',
];

const PROFILE_ACTIONS = ['GetInstanceProfile', 'DeleteInstanceProfile', 'ListInstanceProfileTags'];

/** Account-level calls with no resource type. */
const ACCOUNT_ACTIONS = [
  'GetAccountPasswordPolicy',
  'UpdateAccountPasswordPolicy',
  'DeleteAccountPasswordPolicy',
  'ListAccountAliases',
  'CreateAccountAlias',
  'DeleteAccountAlias',
  'GetAccountSummary',
  'GetAccountAuthorizationDetails',
  'ListRoles',
  'ListUsers',
  'ListGroups',
  'ListPolicies',
  'ListInstanceProfiles',
  'SimulateCustomPolicy',
  'GetContextKeysForCustomPolicy',
];

export const iam: ServiceModel = {
  ...modelAll(USER_ACTIONS, (op) => on('user', `iam:${op}`)),
  ...modelAll(ROLE_ACTIONS, (op) => on('role', `iam:${op}`)),
  ...modelAll(GROUP_ACTIONS, (op) => on('group', `iam:${op}`)),
  ...modelAll(POLICY_ACTIONS, (op) => policy(`iam:${op}`)),
  ...modelAll(PROFILE_ACTIONS, (op) => on('instance-profile', `iam:${op}`)),
  ...modelAll(ACCOUNT_ACTIONS, (op) => anyResource(`iam:${op}`)),
  CreateUser: withContext(create('user', 'iam:CreateUser'), requestedBoundary),
  CreateRole: withContext(create('role', 'iam:CreateRole'), requestedBoundary),
  CreateGroup: create('group', 'iam:CreateGroup'),
  CreateInstanceProfile: create('instance-profile', 'iam:CreateInstanceProfile'),
  CreatePolicy: (op) => [
    {
      action: 'iam:CreatePolicy',
      resource: iamArn(op.account, `policy/${withPath(op.input.Path, String(op.input.PolicyName ?? ''))}`),
      context: requestTags(op),
    },
  ],

  TagUser: on('user', 'iam:TagUser', requestTags),
  UntagUser: on('user', 'iam:UntagUser', removedTags),
  TagRole: on('role', 'iam:TagRole', requestTags),
  UntagRole: on('role', 'iam:UntagRole', removedTags),
  TagPolicy: policy('iam:TagPolicy', requestTags),
  UntagPolicy: policy('iam:UntagPolicy', removedTags),
  TagInstanceProfile: on('instance-profile', 'iam:TagInstanceProfile', requestTags),
  UntagInstanceProfile: on('instance-profile', 'iam:UntagInstanceProfile', removedTags),

  AttachUserPolicy: onBounded('user', 'iam:AttachUserPolicy', policyArnKey),
  DetachUserPolicy: onBounded('user', 'iam:DetachUserPolicy', policyArnKey),
  AttachRolePolicy: onBounded('role', 'iam:AttachRolePolicy', policyArnKey),
  DetachRolePolicy: onBounded('role', 'iam:DetachRolePolicy', policyArnKey),
  PutRolePolicy: onBounded('role', 'iam:PutRolePolicy'),
  DeleteRolePolicy: onBounded('role', 'iam:DeleteRolePolicy'),
  PutUserPolicy: onBounded('user', 'iam:PutUserPolicy'),
  DeleteUserPolicy: onBounded('user', 'iam:DeleteUserPolicy'),
  DeleteRolePermissionsBoundary: onBounded('role', 'iam:DeleteRolePermissionsBoundary'),
  DeleteUserPermissionsBoundary: onBounded('user', 'iam:DeleteUserPermissionsBoundary'),
  PutRolePermissionsBoundary: on('role', 'iam:PutRolePermissionsBoundary', requestedBoundary),
  PutUserPermissionsBoundary: on('user', 'iam:PutUserPermissionsBoundary', requestedBoundary),
  AttachGroupPolicy: on('group', 'iam:AttachGroupPolicy', policyArnKey),
  DetachGroupPolicy: on('group', 'iam:DetachGroupPolicy', policyArnKey),

  // Group membership is authorized on the group.
  AddUserToGroup: on('group', 'iam:AddUserToGroup'),
  RemoveUserFromGroup: on('group', 'iam:RemoveUserFromGroup'),

  // A user changing its own password.
  ChangePassword: on('user', 'iam:ChangePassword'),

  /**
   * Putting a role in an instance profile passes the role (EC2 then uses it): iam:PassRole on the
   * role, to ec2.amazonaws.com, as the product's grant expects.
   */
  async AddRoleToInstanceProfile(op) {
    const roleName = String(op.input.RoleName ?? '');
    return [
      ...(await on('instance-profile', 'iam:AddRoleToInstanceProfile')(op)),
      {
        action: 'iam:PassRole',
        resource: iamArn(op.account, `role/${roleName}`),
        context: { 'iam:PassedToService': 'ec2.amazonaws.com' },
        existing: { kind: 'iam-role', name: roleName },
      },
    ];
  },
  RemoveRoleFromInstanceProfile: on('instance-profile', 'iam:RemoveRoleFromInstanceProfile'),

  /** The simulator is authorized on the principal whose policies it reads. */
  SimulatePrincipalPolicy: (op) => {
    const arn = String(op.input.PolicySourceArn ?? '');
    return [{ action: 'iam:SimulatePrincipalPolicy', resource: arn }];
  },
  GetContextKeysForPrincipalPolicy: (op) => [
    { action: 'iam:GetContextKeysForPrincipalPolicy', resource: String(op.input.PolicySourceArn ?? '') },
  ],
};
