import { DescribeParametersCommand, SSMClient, type ParameterStringFilter } from '@aws-sdk/client-ssm';
import { arn, documentArn, iamArn, nodeArn, parameterArn } from '../arns.js';
import { requestTagContext, tagKeysContext, tagMap } from '../context-keys.js';
import { ssmKmsRefusal, viaService } from '../kms.js';
import { anyResource, AUTHORIZED_BY_HANDLER } from '../model.js';
import type { AuthRequest, OperationInput, OperationModel, ServiceModel } from '../model.js';

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

/**
 * Parameter Store encrypts and decrypts SecureString values with the caller's identity: each
 * SecureString a request decrypts (GetParameter* WithDecryption) or writes (PutParameter) is one
 * more KMS request, on the parameter's key (default the AWS managed key alias/aws/ssm), with the
 * encryption context PARAMETER_ARN = the parameter's ARN. Standard parameters are encrypted with
 * kms:Encrypt, advanced ones under a data key (kms:GenerateDataKey).
 */
function parameterKms(
  op: OperationInput,
  action: string,
  name: string,
  keyId: string | undefined,
): AuthRequest {
  return viaService({
    service: 'ssm',
    region: op.region,
    account: op.account,
    keyId,
    action,
    encryptionContext: { PARAMETER_ARN: parameterArn(op.region, op.account, name) },
    refuse: ssmKmsRefusal,
  });
}

interface StoredParameter {
  Name?: string;
  Type?: string;
  KeyId?: string;
  Tier?: string;
}

/** A parameter's name without a version or label selector (`name:3`), from a name or an ARN. */
function bareName(name: string): string {
  const id = name.startsWith('arn:') ? (/:parameter(\/.*)$/.exec(name)?.[1] ?? name) : name;
  const bare = id.split(':')[0]!;
  // An ARN names `a` as parameter/a and `/a/b` as parameter/a/b.
  return name.startsWith('arn:') && bare.split('/').length === 2 ? bare.slice(1) : bare;
}

/** The stored parameters that match `filters` (moto, as the emulator), every page. */
async function storedParameters(
  op: OperationInput,
  filters: ParameterStringFilter[],
): Promise<StoredParameter[]> {
  const ssmClient = op.ctx.moto(SSMClient, op.region);
  const found: StoredParameter[] = [];
  let NextToken: string | undefined;
  do {
    const page = await ssmClient.send(
      new DescribeParametersCommand({ ParameterFilters: filters, NextToken, MaxResults: 50 }),
    );
    found.push(...(page.Parameters ?? []));
    NextToken = page.NextToken;
  } while (NextToken);
  return found;
}

async function secureStringsNamed(op: OperationInput, names: string[]): Promise<StoredParameter[]> {
  const bare = [...new Set(names.map(bareName))];
  if (bare.length === 0) return [];
  const found = await storedParameters(op, [
    { Key: 'Name', Option: 'Equals', Values: bare },
    { Key: 'Type', Option: 'Equals', Values: ['SecureString'] },
  ]);
  return found;
}

/** GetParameter / GetParameters / GetParametersByPath, with kms:Decrypt for what they decrypt. */
function decrypting(
  read: (op: OperationInput) => AuthRequest[],
  secureStrings: (op: OperationInput) => Promise<StoredParameter[]>,
): OperationModel {
  return async (op) => {
    const requests = read(op);
    if (op.input.WithDecryption !== true && op.input.WithDecryption !== 'true') return requests;
    for (const p of await secureStrings(op))
      requests.push(parameterKms(op, 'kms:Decrypt', p.Name ?? '', p.KeyId));
    return requests;
  };
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
  GetParameter: decrypting(parameter('ssm:GetParameter'), (op) =>
    secureStringsNamed(op, [String(op.input.Name ?? '')]),
  ),
  GetParameters: decrypting(parameters('ssm:GetParameters'), (op) =>
    secureStringsNamed(op, strings(op.input.Names)),
  ),
  // Every SecureString the path holds (at one level, or below it when Recursive), whichever page
  // the request asks for: an approximation of what AWS decrypts, which is the page it returns.
  GetParametersByPath: decrypting(parameter('ssm:GetParametersByPath', 'Path'), (op) =>
    storedParameters(op, [
      {
        Key: 'Path',
        Option: op.input.Recursive === true || op.input.Recursive === 'true' ? 'Recursive' : 'OneLevel',
        Values: [String(op.input.Path ?? '/')],
      },
      { Key: 'Type', Option: 'Equals', Values: ['SecureString'] },
    ]),
  ),
  GetParameterHistory: parameter('ssm:GetParameterHistory'),
  DeleteParameter: parameter('ssm:DeleteParameter'),
  DeleteParameters: parameters('ssm:DeleteParameters'),
  LabelParameterVersion: parameter('ssm:LabelParameterVersion'),
  DescribeParameters: anyResource('ssm:DescribeParameters'),
  async PutParameter(op) {
    const [put] = parameter('ssm:PutParameter')(op);
    const tags = tagMap(op.input.Tags);
    const context = requestTagContext(tags);
    const requests: AuthRequest[] = [{ ...put!, context }];
    if (Object.keys(tags).length) requests.push({ ...put!, action: 'ssm:AddTagsToResource', context });
    // An overwrite keeps the stored parameter's type, key and tier unless the request changes them.
    const name = String(op.input.Name ?? '');
    const type = op.input.Type as string | undefined;
    let keyId = op.input.KeyId as string | undefined;
    let tier = op.input.Tier as string | undefined;
    if (type !== undefined && type !== 'SecureString') return requests;
    const overwrite = op.input.Overwrite === true || op.input.Overwrite === 'true';
    // Without Type, a new parameter is a String (and an existing one without Overwrite is refused).
    if (type === undefined && !overwrite) return requests;
    if (type === undefined || (overwrite && (!keyId || !tier))) {
      const [stored] = await storedParameters(op, [
        { Key: 'Name', Option: 'Equals', Values: [bareName(name)] },
      ]);
      if ((type ?? stored?.Type) !== 'SecureString') return requests;
      if (overwrite) {
        keyId ??= stored?.KeyId;
        tier ??= stored?.Tier;
      }
    }
    const advanced =
      tier === 'Advanced' ||
      (tier === 'Intelligent-Tiering' && Buffer.byteLength(String(op.input.Value ?? '')) > 4096);
    requests.push(parameterKms(op, advanced ? 'kms:GenerateDataKey' : 'kms:Encrypt', name, keyId));
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

  // Session Manager: sessions/ authorizes these itself (the node, the document, the owner).
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
