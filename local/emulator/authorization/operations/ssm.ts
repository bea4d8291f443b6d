import { arn, documentArn, iamArn, nodeArn, parameterArn } from '../arns.js';
import { requestTagContext, tagKeysContext, tagMap } from '../context-keys.js';
import {
  AUTHORIZED_BY_HANDLER,
  anyResource,
  type AuthRequest,
  type OperationInput,
  type ServiceModel,
} from '../model.js';

/**
 * Systems Manager (prefix ssm) and the agent's channels (ssmmessages, ec2messages): parameters,
 * documents, nodes, Run Command, activations, service settings and sessions.
 */

const strings = (value: unknown): string[] => [value ?? []].flat().map(String);

function parameter(action: string, field: 'Name' | 'Path' = 'Name') {
  return ({ region, account, input }: OperationInput): AuthRequest[] => {
    const name = String(input[field] ?? '');
    return [
      {
        action,
        resource: parameterArn(region, account, name),
        existing: { kind: 'ssm', region, resourceType: 'Parameter', id: name },
      },
    ];
  };
}

function parameters(action: string) {
  return ({ region, account, input }: OperationInput): AuthRequest[] =>
    strings(input.Names).map((name) => ({
      action,
      resource: parameterArn(region, account, name),
      existing: { kind: 'ssm', region, resourceType: 'Parameter', id: name },
    }));
}

function document(action: string) {
  return ({ region, account, input }: OperationInput): AuthRequest[] => {
    const name = String(input.Name ?? '');
    return [
      {
        action,
        resource: documentArn(region, account, name),
        existing: { kind: 'ssm', region, resourceType: 'Document', id: name },
      },
    ];
  };
}

/** A node named by id: an EC2 instance's tags are EC2's, a hybrid node's the emulator's own. */
function node(action: string, region: string, account: string, id: string): AuthRequest {
  return {
    action,
    resource: nodeArn(region, account, id),
    existing: id.startsWith('mi-') ? { kind: 'managed-node', region, id } : { kind: 'ec2', region, id },
  };
}

/** The tagging operations' ResourceType/ResourceId, as the resource ARN and its tags' source. */
function taggedResource(op: OperationInput, action: string): AuthRequest {
  const { region, account, input } = op;
  const id = String(input.ResourceId ?? '');
  switch (input.ResourceType) {
    case 'Parameter':
      return {
        action,
        resource: parameterArn(region, account, id),
        existing: { kind: 'ssm', region, resourceType: 'Parameter', id },
      };
    case 'Document':
      return {
        action,
        resource: documentArn(region, account, id),
        existing: { kind: 'ssm', region, resourceType: 'Document', id },
      };
    case 'ManagedInstance':
      return node(action, region, account, id);
    case 'MaintenanceWindow':
      return { action, resource: arn('ssm', region, account, `maintenancewindow/${id}`) };
    case 'PatchBaseline':
      return { action, resource: arn('ssm', region, account, `patchbaseline/${id}`) };
    case 'OpsItem':
      return { action, resource: arn('ssm', region, account, `opsitem/${id}`) };
    case 'Automation':
      return { action, resource: arn('ssm', region, account, `automation-execution/${id}`) };
    case 'Association':
      return { action, resource: arn('ssm', region, account, `association/${id}`) };
    default:
      // Activations and the rest have no resource type.
      return { action, resource: '*' };
  }
}

/** A role name as CreateActivation takes it (`service-role/Name` or a bare name), as an ARN. */
function roleArn(account: string, role: string): string {
  return role.startsWith('arn:') ? role : iamArn(account, `role/${role.replace(/^\//, '')}`);
}

const passRole = (account: string, role: string, service: string): AuthRequest => {
  const resource = roleArn(account, role);
  return {
    action: 'iam:PassRole',
    resource,
    context: { 'iam:PassedToService': service },
    existing: { kind: 'iam-role', name: resource.slice(resource.lastIndexOf('/') + 1) },
  };
};

/** `/ssm/...` or the setting's ARN. */
function serviceSetting(action: string) {
  return ({ region, account, input }: OperationInput): AuthRequest[] => {
    const id = String(input.SettingId ?? '');
    const resource = id.startsWith('arn:') ? id : arn('ssm', region, account, `servicesetting${id}`);
    return [{ action, resource }];
  };
}

export const ssm: ServiceModel = {
  // Parameters. A parameter created with Tags also needs ssm:AddTagsToResource on it.
  GetParameter: parameter('ssm:GetParameter'),
  GetParameters: parameters('ssm:GetParameters'),
  GetParametersByPath: parameter('ssm:GetParametersByPath', 'Path'),
  GetParameterHistory: parameter('ssm:GetParameterHistory'),
  DeleteParameter: parameter('ssm:DeleteParameter'),
  DeleteParameters: parameters('ssm:DeleteParameters'),
  LabelParameterVersion: parameter('ssm:LabelParameterVersion'),
  DescribeParameters: anyResource('ssm:DescribeParameters'),
  PutParameter(op) {
    const [put] = parameter('ssm:PutParameter')(op);
    const tags = tagMap(op.input.Tags);
    const context = requestTagContext(tags);
    const requests: AuthRequest[] = [{ ...put!, context }];
    if (Object.keys(tags).length) requests.push({ ...put!, action: 'ssm:AddTagsToResource', context });
    return requests;
  },

  // Tags.
  AddTagsToResource: (op) => [
    { ...taggedResource(op, 'ssm:AddTagsToResource'), context: requestTagContext(tagMap(op.input.Tags)) },
  ],
  RemoveTagsFromResource: (op) => [
    { ...taggedResource(op, 'ssm:RemoveTagsFromResource'), context: tagKeysContext(op.input.TagKeys) },
  ],
  ListTagsForResource: (op) => [taggedResource(op, 'ssm:ListTagsForResource')],

  // Documents. A document created with Tags also needs ssm:AddTagsToResource on it.
  CreateDocument(op) {
    const [create] = document('ssm:CreateDocument')(op);
    const tags = tagMap(op.input.Tags);
    const context = requestTagContext(tags);
    const requests: AuthRequest[] = [{ ...create!, context }];
    if (Object.keys(tags).length) requests.push({ ...create!, action: 'ssm:AddTagsToResource', context });
    return requests;
  },
  UpdateDocument: document('ssm:UpdateDocument'),
  UpdateDocumentDefaultVersion: document('ssm:UpdateDocumentDefaultVersion'),
  DescribeDocument: document('ssm:DescribeDocument'),
  GetDocument: document('ssm:GetDocument'),
  DeleteDocument: document('ssm:DeleteDocument'),
  ListDocumentVersions: document('ssm:ListDocumentVersions'),
  DescribeDocumentPermission: document('ssm:DescribeDocumentPermission'),
  ListDocuments: anyResource('ssm:ListDocuments'),

  // Hybrid activations (no resource type); CreateActivation hands its role to Systems Manager.
  CreateActivation(op) {
    const requests: AuthRequest[] = [
      { action: 'ssm:CreateActivation', resource: '*', context: requestTagContext(tagMap(op.input.Tags)) },
    ];
    if (op.input.IamRole) requests.push(passRole(op.account, String(op.input.IamRole), 'ssm.amazonaws.com'));
    return requests;
  },
  DeleteActivation: anyResource('ssm:DeleteActivation'),
  DescribeActivations: anyResource('ssm:DescribeActivations'),

  // Nodes.
  DescribeInstanceInformation: anyResource('ssm:DescribeInstanceInformation'),
  DescribeInstanceProperties: anyResource('ssm:DescribeInstanceProperties'),
  GetConnectionStatus: anyResource('ssm:GetConnectionStatus'),
  DeregisterManagedInstance: ({ region, account, input }) => [
    node('ssm:DeregisterManagedInstance', region, account, String(input.InstanceId ?? '')),
  ],
  /** What a node's agent calls, as the node's role. */
  UpdateInstanceInformation: ({ region, account, input }) => [
    node('ssm:UpdateInstanceInformation', region, account, String(input.InstanceId ?? '')),
  ],
  ListInstanceAssociations: ({ region, account, input }) => [
    node('ssm:ListInstanceAssociations', region, account, String(input.InstanceId ?? '')),
  ],

  // Run Command: the document and every node named; targets by tag are authorized on any instance.
  SendCommand(op) {
    const { region, account, input } = op;
    const requests: AuthRequest[] = [
      document('ssm:SendCommand')({ ...op, input: { Name: input.DocumentName } })[0]!,
    ];
    for (const id of strings(input.InstanceIds)) requests.push(node('ssm:SendCommand', region, account, id));
    if (input.Targets)
      requests.push({ action: 'ssm:SendCommand', resource: arn('ec2', region, account, 'instance/*') });
    const notificationRole = input.ServiceRoleArn;
    if (notificationRole) requests.push(passRole(account, String(notificationRole), 'ssm.amazonaws.com'));
    return requests;
  },
  GetCommandInvocation: anyResource('ssm:GetCommandInvocation'),
  ListCommandInvocations: anyResource('ssm:ListCommandInvocations'),
  ListCommands: anyResource('ssm:ListCommands'),
  CancelCommand: anyResource('ssm:CancelCommand'),

  // The account's service settings (the activation tier).
  GetServiceSetting: serviceSetting('ssm:GetServiceSetting'),
  UpdateServiceSetting: serviceSetting('ssm:UpdateServiceSetting'),
  ResetServiceSetting: serviceSetting('ssm:ResetServiceSetting'),

  // Session Manager: sessions.ts authorizes these itself (the node, the document, the owner).
  StartSession: AUTHORIZED_BY_HANDLER,
  ResumeSession: AUTHORIZED_BY_HANDLER,
  TerminateSession: AUTHORIZED_BY_HANDLER,
  DescribeSessions: AUTHORIZED_BY_HANDLER,
};

/** The agent's control and data channels (no resource type). */
export const ssmmessages: ServiceModel = {
  CreateControlChannel: anyResource('ssmmessages:CreateControlChannel'),
  CreateDataChannel: anyResource('ssmmessages:CreateDataChannel'),
  OpenControlChannel: anyResource('ssmmessages:OpenControlChannel'),
  OpenDataChannel: anyResource('ssmmessages:OpenDataChannel'),
};

export const ec2messages: ServiceModel = {
  AcknowledgeMessage: anyResource('ec2messages:AcknowledgeMessage'),
  DeleteMessage: anyResource('ec2messages:DeleteMessage'),
  FailMessage: anyResource('ec2messages:FailMessage'),
  GetEndpoint: anyResource('ec2messages:GetEndpoint'),
  GetMessages: anyResource('ec2messages:GetMessages'),
  SendReply: anyResource('ec2messages:SendReply'),
};
