import { describe, expect, it } from '@jest/globals';
import { GUARDED_LOGS_ACTIONS, hostGuardPolicy } from '../../../functions/shared/host-guard.js';
import { ACCOUNT } from '../../helpers/aws-mock.js';
import { simulate } from '../../helpers/simulate.js';

/**
 * What the roles hold besides the guard, as broad as it gets: AmazonSSMManagedInstanceCore's
 * parameter reads on `*`, and everything of Logs and Secrets Manager (CloudWatchAgentServerPolicy
 * and more, as if someone attached them again). The guard must win over all of it.
 */
const BROAD = {
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Action: ['ssm:GetParameter', 'ssm:GetParameters', 'ssm:GetParametersByPath', 'ssm:GetParameterHistory'],
      Resource: '*',
    },
    { Effect: 'Allow', Action: ['logs:*', 'secretsmanager:*'], Resource: '*' },
  ],
};
const ROLE = `arn:aws:sts::${ACCOUNT}:assumed-role/SSMLabRole/i-0123456789abcdef0`;
const parameter = (name: string) => `arn:aws:ssm:us-east-1:${ACCOUNT}:parameter${name}`;
const group = `arn:aws:logs:us-east-1:${ACCOUNT}:log-group:SSM-Logs`;
const stream = `${group}:log-stream:MyWorkshopUser-demo-0abc`;

const decide = (policy: object, action: string, resource: string) =>
  simulate([BROAD, policy], action, resource, {}, ROLE);

describe('the host guard (SSMLabRole, SSMServiceRole)', () => {
  const guard = hostGuardPolicy('aws');

  it.each([
    ['/session-lab/demo/activation/Dev/code', 'ssm:GetParameter'],
    ['/session-lab/demo/key-pair/private-key', 'ssm:GetParameters'],
    ['/session-lab', 'ssm:GetParameter'],
    ['/session-lab/demo/activation/Prod/code', 'ssm:GetParameterHistory'],
  ])('takes back %s (%s)', async (name, action) => {
    await expect(decide(guard, action, parameter(name))).resolves.toBe('explicitDeny');
  });

  it('denies GetParametersByPath on every path (authorized against the requested path only)', async () => {
    for (const path of ['/session-lab', '/session-lab/demo', '/other-app'])
      await expect(decide(guard, 'ssm:GetParametersByPath', parameter(path))).resolves.toBe('explicitDeny');
  });

  it('leaves other parameters to the managed policy (the public AMI ids)', async () => {
    await expect(
      decide(guard, 'ssm:GetParameter', parameter('/aws/service/ami-amazon-linux-latest/x')),
    ).resolves.toBe('allowed');
  });

  it('denies every secret', async () => {
    const secret = `arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:session-lab/demo/MyWorkshopUser-password-AbCdEf`;
    for (const action of ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue'])
      await expect(decide(guard, action, secret)).resolves.toBe('explicitDeny');
  });

  it("keeps the agent's session logging calls", async () => {
    for (const [action, resource] of [
      ['logs:DescribeLogGroups', '*'],
      ['logs:CreateLogStream', stream],
      ['logs:PutLogEvents', stream],
    ] as const)
      await expect(decide(guard, action, resource)).resolves.toBe('allowed');
  });

  it.each([
    'logs:PutRetentionPolicy',
    'logs:DeleteRetentionPolicy',
    'logs:DeleteLogGroup',
    'logs:DeleteLogStream',
    'logs:CreateLogGroup',
    'logs:GetLogEvents',
    'logs:FilterLogEvents',
    'logs:StartQuery',
    'logs:StartLiveTail',
    'logs:PutSubscriptionFilter',
    'logs:PutResourcePolicy',
    'logs:PutLogGroupDeletionProtection',
    'logs:AssociateKmsKey',
    'logs:DisassociateKmsKey',
    'logs:TagResource',
    'logs:CreateExportTask',
    'logs:PutDataProtectionPolicy',
    'logs:PutMetricFilter',
  ])('denies %s', async (action) => {
    // Authorized on the stream, on no resource, or on the group, as the Service Authorization Reference says.
    const resource =
      { 'logs:DeleteLogStream': stream, 'logs:GetLogEvents': stream, 'logs:PutResourcePolicy': '*' }[
        action
      ] ?? `${group}:log-stream:`;
    await expect(decide(guard, action, resource)).resolves.toBe('explicitDeny');
  });

  it('names no action the agent logs with', () => {
    const pattern = (p: string) => new RegExp(`^${p.replace(/\*/g, '.*')}$`);
    for (const action of [
      'logs:DescribeLogGroups',
      'logs:CreateLogStream',
      'logs:DescribeLogStreams',
      'logs:PutLogEvents',
    ])
      expect(GUARDED_LOGS_ACTIONS.filter((p) => pattern(p).test(action))).toEqual([]);
  });
});

describe("the bootstrap role's guard (its own lab's parameters only)", () => {
  const guard = hostGuardPolicy('aws', 'sec');

  it("reads its own lab's code and key", async () => {
    for (const name of ['/session-lab/sec/activation/Dev/code', '/session-lab/sec/key-pair/private-key'])
      await expect(decide(guard, 'ssm:GetParameter', parameter(name))).resolves.toBe('allowed');
  });

  it('reads no other lab, not one whose id extends its own, nothing else of Parameter Store', async () => {
    for (const name of [
      '/session-lab/sec-01/activation/Dev/code',
      '/session-lab/sec01/key-pair/private-key',
      '/session-lab/other/activation/Prod/code',
      '/session-lab',
      '/other-app/config',
    ])
      await expect(decide(guard, 'ssm:GetParameter', parameter(name))).resolves.toBe('explicitDeny');
    await expect(decide(guard, 'ssm:GetParametersByPath', parameter('/session-lab/sec'))).resolves.toBe(
      'explicitDeny',
    );
  });

  it('writes no logs and reads no secret', async () => {
    await expect(decide(guard, 'logs:PutLogEvents', stream)).resolves.toBe('explicitDeny');
    await expect(
      decide(guard, 'secretsmanager:GetSecretValue', `arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:x`),
    ).resolves.toBe('explicitDeny');
  });
});
