import { GetInstanceProfileCommand, IAMClient } from '@aws-sdk/client-iam';
import { arn, ec2Arn, iamArn } from '../arns.js';
import { ec2TagSpecifications, requestTagContext, tagKeysContext, tagMap } from '../context-keys.js';
import type { AuthRequest, OperationInput, OperationModel, ServiceModel } from '../model.js';

/**
 * EC2 (prefix ec2). Describe* calls have no resource-level permissions; a create call is
 * authorized on every resource it touches, and tagging at creation (TagSpecifications) also needs
 * ec2:CreateTags on each tagged resource with ec2:CreateAction naming the call.
 */

const strings = (value: unknown): string[] => [value ?? []].flat().map(String);

function existing(region: string, account: string, id: string, action: string): AuthRequest {
  return { action, resource: ec2Arn(region, account, id), existing: { kind: 'ec2', region, id } };
}

/** One request per id in `field` (InstanceId.N, ResourceId.N, ...). */
function each(
  action: string,
  field: string,
  context?: (op: OperationInput) => AuthRequest['context'],
): OperationModel {
  return (op) =>
    strings(op.input[field]).map((id) => ({
      ...existing(op.region, op.account, id, action),
      context: context?.(op),
    }));
}

/** A security group named by id (or, in the default VPC, by name: then any group). */
function securityGroup(action: string): OperationModel {
  return ({ region, account, input }) =>
    input.GroupId
      ? [existing(region, account, String(input.GroupId), action)]
      : [{ action, resource: arn('ec2', region, account, 'security-group/*') }];
}

function keyPair(action: string, context?: AuthRequest['context']): OperationModel {
  return ({ region, account, input }) => {
    const name = input.KeyName !== undefined ? String(input.KeyName) : undefined;
    if (name === undefined) return [{ action, resource: arn('ec2', region, account, `key-pair/*`), context }];
    return [
      {
        action,
        resource: arn('ec2', region, account, `key-pair/${name}`),
        context,
        existing: { kind: 'ec2-key-pair', region, name },
      },
    ];
  };
}

/**
 * ec2:CreateTags for each resource type tagged at creation: the new resources' ARNs (`type/*`
 * before they exist, or the named one), ec2:CreateAction and the request tags.
 */
function tagOnCreate(
  op: OperationInput,
  createAction: string,
  resourceFor: (type: string) => string,
): AuthRequest[] {
  return [...ec2TagSpecifications(op.input)].map(([type, tags]) => ({
    action: 'ec2:CreateTags',
    resource: resourceFor(type),
    context: { ...requestTagContext(tags), 'ec2:CreateAction': createAction },
  }));
}

const newResource = (op: OperationInput, type: string) => arn('ec2', op.region, op.account, `${type}/*`);

/** The role inside an instance profile (named by name or ARN), passed to EC2. */
async function profileRole(
  op: OperationInput,
  profile: { Name?: string; Arn?: string },
): Promise<AuthRequest[]> {
  const name = profile.Name ?? profile.Arn?.slice(profile.Arn.lastIndexOf('/') + 1);
  if (!name) return [];
  try {
    const { InstanceProfile } = await op.ctx
      .moto(IAMClient, 'us-east-1')
      .send(new GetInstanceProfileCommand({ InstanceProfileName: name }));
    return (InstanceProfile?.Roles ?? []).map((role) => ({
      action: 'iam:PassRole',
      resource: role.Arn ?? iamArn(op.account, `role/${role.RoleName}`),
      context: { 'iam:PassedToService': 'ec2.amazonaws.com' },
      existing: { kind: 'iam-role', name: role.RoleName! },
    }));
  } catch (err) {
    // No such profile: EC2 answers that itself once the call is allowed.
    if ((err as Error).name === 'NoSuchEntityException') return [];
    throw err;
  }
}

async function runInstances(op: OperationInput): Promise<AuthRequest[]> {
  const { region, account, input } = op;
  const specs = ec2TagSpecifications(input);
  const tagged = (type: string) => requestTagContext(specs.get(type) ?? {});
  const context = (type: string) => ({
    ...tagged(type),
    ...(input.InstanceType ? { 'ec2:InstanceType': String(input.InstanceType) } : {}),
  });
  const action = 'ec2:RunInstances';
  const interfaces = [input.NetworkInterface ?? []].flat() as {
    SubnetId?: string;
    SecurityGroupId?: unknown;
  }[];
  const subnets = [input.SubnetId, ...interfaces.map((n) => n.SubnetId)].filter(Boolean).map(String);
  const groups = [
    ...strings(input.SecurityGroupId),
    ...interfaces.flatMap((n) => strings(n.SecurityGroupId)),
  ];
  const requests: AuthRequest[] = [
    { action, resource: newResource(op, 'instance'), context: context('instance') },
    input.ImageId
      ? existing(region, account, String(input.ImageId), action)
      : { action, resource: arn('ec2', region, '', 'image/*') },
    // Without a subnet or groups, the default subnet and group: their ids are not in the request.
    ...(subnets.length
      ? subnets.map((id) => existing(region, account, id, action))
      : [{ action, resource: newResource(op, 'subnet') }]),
    ...(groups.length
      ? groups.map((id) => existing(region, account, id, action))
      : [{ action, resource: newResource(op, 'security-group') }]),
    { action, resource: newResource(op, 'volume'), context: context('volume') },
    { action, resource: newResource(op, 'network-interface'), context: context('network-interface') },
  ];
  if (input.KeyName) requests.push(...(await keyPair(action)(op)));
  requests.push(...tagOnCreate(op, 'RunInstances', (type) => newResource(op, type)));
  const profile = input.IamInstanceProfile as { Name?: string; Arn?: string } | undefined;
  if (profile) requests.push(...(await profileRole(op, profile)));
  return requests;
}

export const ec2: ServiceModel = {
  RunInstances: runInstances,
  TerminateInstances: each('ec2:TerminateInstances', 'InstanceId'),
  StopInstances: each('ec2:StopInstances', 'InstanceId'),
  StartInstances: each('ec2:StartInstances', 'InstanceId'),
  RebootInstances: each('ec2:RebootInstances', 'InstanceId'),
  GetConsoleOutput: ({ region, account, input }) => [
    existing(region, account, String(input.InstanceId ?? ''), 'ec2:GetConsoleOutput'),
  ],
  async AssociateIamInstanceProfile(op) {
    const profile = op.input.IamInstanceProfile as { Name?: string; Arn?: string } | undefined;
    return [
      existing(op.region, op.account, String(op.input.InstanceId ?? ''), 'ec2:AssociateIamInstanceProfile'),
      ...(profile ? await profileRole(op, profile) : []),
    ];
  },

  CreateSecurityGroup(op) {
    const { region, account, input } = op;
    return [
      {
        action: 'ec2:CreateSecurityGroup',
        resource: newResource(op, 'security-group'),
        context: requestTagContext(ec2TagSpecifications(input).get('security-group') ?? {}),
      },
      input.VpcId
        ? existing(region, account, String(input.VpcId), 'ec2:CreateSecurityGroup')
        : { action: 'ec2:CreateSecurityGroup', resource: newResource(op, 'vpc') },
      ...tagOnCreate(op, 'CreateSecurityGroup', (type) => newResource(op, type)),
    ];
  },
  DeleteSecurityGroup: securityGroup('ec2:DeleteSecurityGroup'),
  AuthorizeSecurityGroupIngress: securityGroup('ec2:AuthorizeSecurityGroupIngress'),
  AuthorizeSecurityGroupEgress: securityGroup('ec2:AuthorizeSecurityGroupEgress'),
  RevokeSecurityGroupIngress: securityGroup('ec2:RevokeSecurityGroupIngress'),
  RevokeSecurityGroupEgress: securityGroup('ec2:RevokeSecurityGroupEgress'),
  ModifySecurityGroupRules: securityGroup('ec2:ModifySecurityGroupRules'),

  CreateKeyPair(op) {
    const name = String(op.input.KeyName ?? '');
    const resource = arn('ec2', op.region, op.account, `key-pair/${name}`);
    return [
      {
        action: 'ec2:CreateKeyPair',
        resource,
        context: requestTagContext(ec2TagSpecifications(op.input).get('key-pair') ?? {}),
      },
      ...tagOnCreate(op, 'CreateKeyPair', (type) => (type === 'key-pair' ? resource : newResource(op, type))),
    ];
  },
  ImportKeyPair(op) {
    const name = String(op.input.KeyName ?? '');
    const resource = arn('ec2', op.region, op.account, `key-pair/${name}`);
    return [
      {
        action: 'ec2:ImportKeyPair',
        resource,
        context: requestTagContext(ec2TagSpecifications(op.input).get('key-pair') ?? {}),
      },
      ...tagOnCreate(op, 'ImportKeyPair', (type) => (type === 'key-pair' ? resource : newResource(op, type))),
    ];
  },
  DeleteKeyPair: keyPair('ec2:DeleteKeyPair'),

  CreateTags: each('ec2:CreateTags', 'ResourceId', (op) => requestTagContext(tagMap(op.input.Tag))),
  DeleteTags: each('ec2:DeleteTags', 'ResourceId', (op) => tagKeysContext(Object.keys(tagMap(op.input.Tag)))),
};

/** Every Describe* call: EC2 supports no resource-level permissions for them. */
export function ec2Describe(operation: string): OperationModel | undefined {
  return operation.startsWith('Describe') ? () => [{ action: `ec2:${operation}`, resource: '*' }] : undefined;
}
