import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { API_PERMISSIONS, PERMISSIONS, PROGRESS_ACTIONS } from '../../../infra/permissions.js';
import type { AuthRequest, OperationInput } from '../../../local/emulator/authorization/model.js';
import { AUTHORIZED_BY_HANDLER } from '../../../local/emulator/authorization/model.js';
import { modelOf, modelledOperations } from '../../../local/emulator/authorization/operations/index.js';
import { iamWriteTargets } from '../../../local/emulator/authorization/principals.js';
import { evaluateTrust, parseTrustPolicy } from '../../../local/emulator/authorization/trust.js';
import type { EmulatorContext } from '../../../local/emulator/context.js';
import type { AwsCall } from '../../../local/emulator/protocol.js';
import type { Caller } from '../../../local/emulator/services/caller.js';
import { sdkActionsOfTask } from '../../helpers/sdk-usage.js';

/**
 * The emulator's authorization table (local/emulator/authorization/operations/): every operation
 * the product calls or its roles are granted has a model, and the models build the ARNs and
 * request keys AWS evaluates.
 */

const FUNCTIONS = fileURLToPath(new URL('../../../functions/', import.meta.url));
const ACCOUNT = '123456789012';
const REGION = 'us-east-1';

/** Every folder with a handler: the lab tasks and the portal API's routes. */
function functionFolders(): string[] {
  const folders: string[] = [];
  for (const name of readdirSync(FUNCTIONS)) {
    const dir = join(FUNCTIONS, name);
    if (existsSync(join(dir, 'handler.ts'))) folders.push(dir);
    else if (name === 'api')
      for (const route of readdirSync(dir))
        if (existsSync(join(dir, route, 'handler.ts'))) folders.push(join(dir, route));
  }
  return folders;
}

/** What the simulated hosts' agent and CLI call as the node's role. */
const HOST_ACTIONS = [
  'ssm:UpdateInstanceInformation',
  'ssm:GetParameter',
  'ssm:GetParameters',
  'logs:CreateLogStream',
  'logs:PutLogEvents',
  'logs:DescribeLogGroups',
  'logs:DescribeLogStreams',
  'ssmmessages:CreateControlChannel',
  'ssmmessages:CreateDataChannel',
  'ssmmessages:OpenControlChannel',
  'ssmmessages:OpenDataChannel',
  'ec2messages:GetMessages',
];

/**
 * Granted but never sent by the product's code: Lambda's event source mapping sends failed
 * batches to the dead-letter queue as the function's role, and the emulator has no SQS.
 */
const SENT_BY_AWS_SERVICES = new Set(['sqs:SendMessage']);

/** Actions no call is named after: authorized as part of the calls that imply them. */
const IMPLIED_ONLY = new Set(['iam:PassRole']);

const model = (action: string) => {
  const [prefix, operation] = action.split(':') as [string, string];
  return modelOf(prefix, operation);
};

const caller: Caller = {
  type: 'AssumedRole',
  arn: `arn:aws:sts::${ACCOUNT}:assumed-role/TaskRole/s`,
  accountId: ACCOUNT,
  accessKeyId: 'ASIA',
  principalId: 'AROA:s',
  roleArn: `arn:aws:iam::${ACCOUNT}:role/TaskRole`,
};

/** The permissions boundaries of the roles IAM holds, for the models that read them (by role name). */
const boundaries = new Map<string, string>();
/** An emulator context whose moto IAM answers GetRole from `boundaries` (other roles: NoSuchEntity). */
const ctx = {
  moto: () => ({
    send: async (command: { input: { RoleName?: string } }) => {
      const name = command.input.RoleName ?? '';
      if (!boundaries.has(name)) throw Object.assign(new Error(`no role ${name}`), { name: 'NoSuchEntity' });
      return {
        Role: { RoleName: name, PermissionsBoundary: { PermissionsBoundaryArn: boundaries.get(name) } },
      };
    },
  }),
} as unknown as EmulatorContext;

async function requests(action: string, input: Record<string, unknown>): Promise<AuthRequest[]> {
  const found = model(action);
  if (!found || found === AUTHORIZED_BY_HANDLER) throw new Error(`no model for ${action}`);
  const [service, operation] = action.split(':') as [string, string];
  const op: OperationInput = {
    call: { service, operation, region: REGION, protocol: 'json', input, raw: {} } as unknown as AwsCall,
    ctx,
    caller,
    region: REGION,
    account: ACCOUNT,
    input,
  };
  return found(op);
}

const pairs = (list: AuthRequest[]) => list.map((r) => `${r.action} ${r.resource}`);

describe('the authorization table', () => {
  it('models every operation the product calls, its roles are granted, and the hosts call', () => {
    const called = functionFolders().flatMap((dir) => [...sdkActionsOfTask(dir)]);
    const granted = [...Object.values(PERMISSIONS), ...Object.values(API_PERMISSIONS)].flatMap((grants) =>
      grants.flatMap((grant) => grant.actions),
    );
    const progress = [...PROGRESS_ACTIONS.table, ...PROGRESS_ACTIONS.bus];
    const needed = new Set([...called, ...granted, ...progress, ...HOST_ACTIONS]);
    const missing = [...needed].filter(
      (action) => !SENT_BY_AWS_SERVICES.has(action) && !IMPLIED_ONLY.has(action) && !model(action),
    );
    expect(missing).toEqual([]);
    expect(called.length).toBeGreaterThan(50);
  });

  it('answers undefined for an operation it does not model, and Describe* for any EC2 one', () => {
    expect(model('ec2:CreateVpc')).toBeUndefined();
    expect(model('ssm:PutComplianceItems')).toBeUndefined();
    expect(model('ec2:DescribeAnything')).toBeDefined();
    expect(model('ssm:StartSession')).toBe(AUTHORIZED_BY_HANDLER);
    expect(modelledOperations().length).toBeGreaterThan(200);
  });

  it('builds parameter and document ARNs, public ones without an account', async () => {
    expect(pairs(await requests('ssm:GetParameter', { Name: '/session-lab/a/code' }))).toEqual([
      `ssm:GetParameter arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/session-lab/a/code`,
    ]);
    expect(
      pairs(
        await requests('ssm:GetParameters', { Names: ['/aws/service/ami-amazon-linux-latest/x', 'plain'] }),
      ),
    ).toEqual([
      `ssm:GetParameters arn:aws:ssm:${REGION}::parameter/aws/service/ami-amazon-linux-latest/x`,
      `ssm:GetParameters arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/plain`,
    ]);
    const put = await requests('ssm:PutParameter', { Name: '/p', Tags: [{ Key: 'k', Value: 'v' }] });
    expect(pairs(put)).toEqual([
      `ssm:PutParameter arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/p`,
      `ssm:AddTagsToResource arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/p`,
    ]);
    expect(put[0]!.context).toEqual({ 'aws:TagKeys': ['k'], 'aws:RequestTag/k': 'v' });
  });

  it('authorizes SendCommand on the document and each node, and CreateActivation passes its role', async () => {
    expect(
      pairs(
        await requests('ssm:SendCommand', {
          DocumentName: 'AWS-RunShellScript',
          InstanceIds: ['i-0abc', 'mi-0123'],
        }),
      ),
    ).toEqual([
      `ssm:SendCommand arn:aws:ssm:${REGION}::document/AWS-RunShellScript`,
      `ssm:SendCommand arn:aws:ec2:${REGION}:${ACCOUNT}:instance/i-0abc`,
      `ssm:SendCommand arn:aws:ssm:${REGION}:${ACCOUNT}:managed-instance/mi-0123`,
    ]);
    const activation = await requests('ssm:CreateActivation', {
      IamRole: 'service-role/SSMServiceRole',
      Tags: [{ Key: 'session-lab:managed-by', Value: 'session-lab' }],
    });
    expect(pairs(activation)).toEqual([
      'ssm:CreateActivation *',
      `iam:PassRole arn:aws:iam::${ACCOUNT}:role/service-role/SSMServiceRole`,
    ]);
    expect(activation[1]!.context).toEqual({ 'iam:PassedToService': 'ssm.amazonaws.com' });
  });

  it('authorizes RunInstances on every resource it touches and CreateTags with ec2:CreateAction', async () => {
    const run = await requests('ec2:RunInstances', {
      ImageId: 'ami-0123',
      SubnetId: 'subnet-1',
      SecurityGroupId: ['sg-1'],
      KeyName: 'lab-key',
      InstanceType: 't3.micro',
      TagSpecification: [
        { ResourceType: 'instance', Tag: [{ Key: 'Environment', Value: 'Dev' }] },
        { ResourceType: 'volume', Tag: [{ Key: 'Environment', Value: 'Dev' }] },
      ],
    });
    const ec2 = (resource: string) => `arn:aws:ec2:${REGION}:${ACCOUNT}:${resource}`;
    expect(pairs(run)).toEqual([
      `ec2:RunInstances ${ec2('instance/*')}`,
      `ec2:RunInstances arn:aws:ec2:${REGION}::image/ami-0123`,
      `ec2:RunInstances ${ec2('subnet/subnet-1')}`,
      `ec2:RunInstances ${ec2('security-group/sg-1')}`,
      `ec2:RunInstances ${ec2('volume/*')}`,
      `ec2:RunInstances ${ec2('network-interface/*')}`,
      `ec2:RunInstances ${ec2('key-pair/lab-key')}`,
      `ec2:CreateTags ${ec2('instance/*')}`,
      `ec2:CreateTags ${ec2('volume/*')}`,
    ]);
    expect(run[0]!.context).toMatchObject({
      'aws:RequestTag/Environment': 'Dev',
      'ec2:InstanceType': 't3.micro',
    });
    expect(run[7]!.context).toMatchObject({
      'ec2:CreateAction': 'RunInstances',
      'aws:TagKeys': ['Environment'],
    });

    const group = await requests('ec2:CreateSecurityGroup', {
      GroupName: 'g',
      VpcId: 'vpc-1',
      TagSpecification: [{ ResourceType: 'security-group', Tag: [{ Key: 'a', Value: 'b' }] }],
    });
    expect(pairs(group)).toEqual([
      `ec2:CreateSecurityGroup ${ec2('security-group/*')}`,
      `ec2:CreateSecurityGroup ${ec2('vpc/vpc-1')}`,
      `ec2:CreateTags ${ec2('security-group/*')}`,
    ]);
    expect(group[2]!.context).toMatchObject({ 'ec2:CreateAction': 'CreateSecurityGroup' });
  });

  it('gives Attach/Detach*Policy iam:PolicyARN and AddRoleToInstanceProfile iam:PassRole', async () => {
    const attach = await requests('iam:AttachRolePolicy', {
      RoleName: 'SSMLabRole',
      PolicyArn: 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore',
    });
    expect(pairs(attach)).toEqual([`iam:AttachRolePolicy arn:aws:iam::${ACCOUNT}:role/SSMLabRole`]);
    expect(attach[0]!.context).toEqual({
      'iam:PolicyARN': 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore',
    });
    expect(attach[0]!.existing).toEqual({ kind: 'iam-role', name: 'SSMLabRole' });
    const add = await requests('iam:AddRoleToInstanceProfile', {
      InstanceProfileName: 'SSMLabProfile',
      RoleName: 'SSMLabRole',
    });
    expect(pairs(add)).toEqual([
      `iam:AddRoleToInstanceProfile arn:aws:iam::${ACCOUNT}:instance-profile/SSMLabProfile`,
      `iam:PassRole arn:aws:iam::${ACCOUNT}:role/SSMLabRole`,
    ]);
    expect(pairs(await requests('iam:CreateRole', { RoleName: 'R', Path: '/service-role/' }))).toEqual([
      `iam:CreateRole arn:aws:iam::${ACCOUNT}:role/service-role/R`,
    ]);
  });

  it('gives iam:PermissionsBoundary: the one a call sets, or the one the role holds when its policies change', async () => {
    const boundary = `arn:aws:iam::${ACCOUNT}:policy/SessionLabBootstrapBoundary`;
    const key = 'iam:PermissionsBoundary';
    const create = await requests('iam:CreateRole', { RoleName: 'B', PermissionsBoundary: boundary });
    expect(create[0]!.context).toMatchObject({ [key]: boundary });
    expect((await requests('iam:CreateRole', { RoleName: 'B' }))[0]!.context).not.toHaveProperty(key);
    const put = await requests('iam:PutRolePermissionsBoundary', {
      RoleName: 'B',
      PermissionsBoundary: boundary,
    });
    expect(put[0]!.context).toEqual({ [key]: boundary });
    // A role without one (here: none known) carries no key; one with it, its ARN.
    for (const action of ['iam:PutRolePolicy', 'iam:DeleteRolePolicy', 'iam:DeleteRolePermissionsBoundary']) {
      expect((await requests(action, { RoleName: 'B', PolicyName: 'p' }))[0]!.context).toEqual({});
    }
    boundaries.set('B', boundary);
    for (const action of ['iam:PutRolePolicy', 'iam:DeleteRolePolicy', 'iam:DeleteRolePermissionsBoundary']) {
      expect((await requests(action, { RoleName: 'B', PolicyName: 'p' }))[0]!.context).toEqual({
        [key]: boundary,
      });
    }
    const attach = await requests('iam:AttachRolePolicy', {
      RoleName: 'B',
      PolicyArn: 'arn:aws:iam::aws:policy/X',
    });
    expect(attach[0]!.context).toEqual({ 'iam:PolicyARN': 'arn:aws:iam::aws:policy/X', [key]: boundary });
    boundaries.delete('B');
  });

  it('builds log group, registry, event bus and state machine resources', async () => {
    expect(pairs(await requests('logs:CreateLogGroup', { logGroupName: '/lab/sessions' }))).toEqual([
      `logs:CreateLogGroup arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/lab/sessions:log-stream:`,
    ]);
    expect(pairs(await requests('dynamodb:UpdateItem', { TableName: 'registry' }))).toEqual([
      `dynamodb:UpdateItem arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/registry`,
    ]);
    expect(
      pairs(await requests('events:PutEvents', { Entries: [{ EventBusName: 'progress' }, {}] })),
    ).toEqual([
      `events:PutEvents arn:aws:events:${REGION}:${ACCOUNT}:event-bus/progress`,
      `events:PutEvents arn:aws:events:${REGION}:${ACCOUNT}:event-bus/default`,
    ]);
    const machine = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:SessionLab-teardown-lab`;
    expect(pairs(await requests('states:StartExecution', { stateMachineArn: machine }))).toEqual([
      `states:StartExecution ${machine}`,
    ]);
    // A bucket ARN has no Region or account: s3:ResourceAccount names the owner (the grants require it).
    const bucket = await requests('s3:GetEncryptionConfiguration', { Bucket: 'lab-logs' });
    expect(pairs(bucket)).toEqual(['s3:GetEncryptionConfiguration arn:aws:s3:::lab-logs']);
    expect(bucket[0]!.context).toEqual({ 's3:ResourceAccount': ACCOUNT });
  });

  it('knows which IAM calls change whose policies', () => {
    const call = (operation: string, input: Record<string, unknown>) =>
      ({ service: 'iam', operation, input }) as unknown as AwsCall;
    expect(iamWriteTargets(call('GetRole', { RoleName: 'R' }))).toBeUndefined();
    expect(iamWriteTargets(call('PutRolePolicy', { RoleName: 'R' }))).toEqual(['role:R']);
    expect(iamWriteTargets(call('CreatePolicyVersion', { PolicyArn: 'arn:p' }))).toEqual(['policy:arn:p']);
    expect(iamWriteTargets(call('AddUserToGroup', { UserName: 'u', GroupName: 'g' }))).toEqual([
      'user:u',
      'group:g',
    ]);
    expect(iamWriteTargets(call('CreatePolicy', { PolicyName: 'p' }))).toEqual([]);
  });
});

describe('trust policies', () => {
  const policy = (statements: unknown[]) =>
    parseTrustPolicy(JSON.stringify({ Version: '2012-10-17', Statement: statements }))!;
  const lambda = { kind: 'service', service: 'lambda.amazonaws.com' } as const;

  it('allows the named service, refuses others, and lets Deny win', () => {
    const trusts = policy([
      { Effect: 'Allow', Principal: { Service: ['lambda.amazonaws.com'] }, Action: 'sts:AssumeRole' },
    ]);
    expect(evaluateTrust(trusts, lambda, 'sts:AssumeRole', {})).toBe('allowed');
    expect(
      evaluateTrust(trusts, { kind: 'service', service: 'ec2.amazonaws.com' }, 'sts:AssumeRole', {}),
    ).toBe('implicitDeny');
    expect(evaluateTrust(trusts, lambda, 'sts:TagSession', {})).toBe('implicitDeny');
    const denied = policy([
      { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:*' },
      { Effect: 'Deny', Principal: '*', Action: 'sts:AssumeRole' },
    ]);
    expect(evaluateTrust(denied, lambda, 'sts:AssumeRole', {})).toBe('explicitDeny');
  });

  it('meets aws:SourceAccount / aws:SourceArn conditions only with matching values', () => {
    const trusts = policy([
      {
        Effect: 'Allow',
        Principal: { Service: 'lambda.amazonaws.com' },
        Action: 'sts:AssumeRole',
        Condition: {
          StringEquals: { 'aws:SourceAccount': ACCOUNT },
          ArnLike: { 'aws:SourceArn': `arn:aws:lambda:*:${ACCOUNT}:function:SessionLab-*` },
        },
      },
    ]);
    const source = {
      'aws:SourceAccount': ACCOUNT,
      'aws:SourceArn': `arn:aws:lambda:${REGION}:${ACCOUNT}:function:SessionLab-launch`,
    };
    expect(evaluateTrust(trusts, lambda, 'sts:AssumeRole', source)).toBe('allowed');
    expect(evaluateTrust(trusts, lambda, 'sts:AssumeRole', {})).toBe('implicitDeny');
    expect(
      evaluateTrust(trusts, lambda, 'sts:AssumeRole', {
        ...source,
        'aws:SourceArn': 'arn:aws:lambda:x:1:function:y',
      }),
    ).toBe('implicitDeny');
  });

  it('matches AWS principals by ARN, role, account id and account root', () => {
    const user = { kind: 'aws', arn: `arn:aws:iam::${ACCOUNT}:user/u`, accountId: ACCOUNT } as const;
    const allow = (principal: unknown) =>
      evaluateTrust(
        policy([{ Effect: 'Allow', Principal: { AWS: principal }, Action: 'sts:AssumeRole' }]),
        user,
        'sts:AssumeRole',
        {},
      );
    expect(allow(user.arn)).toBe('allowed');
    expect(allow(ACCOUNT)).toBe('allowed');
    expect(allow(`arn:aws:iam::${ACCOUNT}:root`)).toBe('allowed');
    expect(allow(`arn:aws:iam::${ACCOUNT}:user/other`)).toBe('implicitDeny');
    expect(allow('arn:aws:iam::210987654321:root')).toBe('implicitDeny');
  });
});
