import { afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import {
  CreateVpcCommand,
  DescribeInstancesCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  AddRoleToInstanceProfileCommand,
  CreateAccessKeyCommand,
  CreateInstanceProfileCommand,
  CreateRoleCommand,
  CreateUserCommand,
  DeleteRolePolicyCommand,
  IAMClient,
  PutRolePolicyCommand,
  PutUserPolicyCommand,
} from '@aws-sdk/client-iam';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  DescribeLogGroupsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { emulatorClientConfig, TEST_REGION, useEmulator } from '../../helpers/emulator.js';
import { AMI } from '../../helpers/fleet.js';

/**
 * Every request is authorized for its caller (local/emulator/authorization/): role credentials
 * from the control endpoint and from STS AssumeRole, and IAM users' keys, against the policies
 * stored in moto; the operator's own credentials stay the admin.
 */

const ACCOUNT = '123456789012';
const ROLE = 'LabTaskRole';
const ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/${ROLE}`;
const SESSION = 'authorization-test';
const SESSION_ARN = `arn:aws:sts::${ACCOUNT}:assumed-role/${ROLE}/${SESSION}`;
const parameterArn = (name: string) => `arn:aws:ssm:${TEST_REGION}:${ACCOUNT}:parameter/${name}`;
const MANAGED_BY = 'session-lab:managed-by';

const trust = (principal: Record<string, unknown>, condition?: Record<string, unknown>) =>
  JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: principal,
        Action: 'sts:AssumeRole',
        ...(condition ? { Condition: condition } : {}),
      },
    ],
  });

const ROLE_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'ssm:GetParameter', Resource: `arn:aws:ssm:*:*:parameter/lab/*` },
    { Effect: 'Deny', Action: 'ssm:GetParameter', Resource: parameterArn('lab/denied') },
    { Effect: 'Allow', Action: 'ec2:DescribeInstances', Resource: '*' },
    {
      Effect: 'Allow',
      Action: 'ec2:TerminateInstances',
      Resource: 'arn:aws:ec2:*:*:instance/*',
      Condition: { StringEquals: { [`aws:ResourceTag/${MANAGED_BY}`]: 'session-lab' } },
    },
    { Effect: 'Allow', Action: 'ec2:RunInstances', Resource: '*' },
    {
      Effect: 'Allow',
      Action: 'ec2:CreateTags',
      Resource: '*',
      Condition: { StringEquals: { 'ec2:CreateAction': 'RunInstances' } },
    },
    {
      Effect: 'Allow',
      Action: 'iam:PassRole',
      Resource: `arn:aws:iam::${ACCOUNT}:role/PassableRole`,
      Condition: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
    },
  ],
});

interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: string;
}

describe('authorization of every request', () => {
  const emulator = useEmulator();
  const config = () => emulatorClientConfig(emulator());
  const admin = {
    iam: () => new IAMClient(config()),
    ssm: () => new SSMClient(config()),
    ec2: () => new EC2Client(config()),
  };

  const control = async (body: Record<string, unknown>) => {
    const res = await fetch(`${emulator().url}/__emulator/assume-role-for-service`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, string> };
  };

  let credentials: Credentials;
  const as = (creds: Credentials | { accessKeyId: string; secretAccessKey: string }) => ({
    ...config(),
    credentials: { ...creds, expiration: undefined },
  });

  beforeAll(async () => {
    const iam = admin.iam();
    await iam.send(
      new CreateRoleCommand({
        RoleName: ROLE,
        AssumeRolePolicyDocument: trust({ Service: 'lambda.amazonaws.com' }),
      }),
    );
    await iam.send(
      new PutRolePolicyCommand({ RoleName: ROLE, PolicyName: 'narrow', PolicyDocument: ROLE_POLICY }),
    );
    for (const Name of ['/lab/allowed', '/lab/denied', '/other/secret'])
      await admin.ssm().send(new PutParameterCommand({ Name, Value: 'v', Type: 'String' }));
    const granted = await control({
      roleArn: ROLE_ARN,
      service: 'lambda.amazonaws.com',
      sessionName: SESSION,
    });
    expect(granted.status).toBe(200);
    credentials = granted.body as unknown as Credentials;
  });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  it('issues role credentials that answer to the assumed-role session', async () => {
    expect(credentials.accessKeyId).toMatch(/^ASIA[A-Z0-9]{16}$/);
    expect(credentials.sessionToken).toBeTruthy();
    const expiresInSeconds = (Date.parse(credentials.expiration) - Date.now()) / 1000;
    expect(expiresInSeconds).toBeGreaterThan(3500);
    expect(expiresInSeconds).toBeLessThanOrEqual(3600);
    const identity = await new STSClient(as(credentials)).send(new GetCallerIdentityCommand({}));
    expect(identity.Arn).toBe(SESSION_ARN);
    expect(identity.Account).toBe(ACCOUNT);
    expect(identity.UserId).toMatch(new RegExp(`^AROA[A-Z0-9]+:${SESSION}$`));
    const adminIdentity = await new STSClient(config()).send(new GetCallerIdentityCommand({}));
    expect(adminIdentity.Arn).toBe(`arn:aws:iam::${ACCOUNT}:root`);
  });

  it('allows what the role grants and refuses another resource with AWS error', async () => {
    const ssm = new SSMClient(as(credentials));
    const { Parameter } = await ssm.send(new GetParameterCommand({ Name: '/lab/allowed' }));
    expect(Parameter?.Value).toBe('v');
    const err = await ssm.send(new GetParameterCommand({ Name: '/other/secret' })).catch((e: Error) => e);
    expect(err).toMatchObject({
      name: 'AccessDeniedException',
      message:
        `User: ${SESSION_ARN} is not authorized to perform: ssm:GetParameter on resource: ` +
        `${parameterArn('other/secret')} because no identity-based policy allows the ssm:GetParameter action`,
    });
  });

  it('lets an explicit deny win over an allow', async () => {
    const err = await new SSMClient(as(credentials))
      .send(new GetParameterCommand({ Name: '/lab/denied' }))
      .catch((e: Error) => e);
    expect(err).toMatchObject({ name: 'AccessDeniedException' });
    expect((err as Error).message).toContain('with an explicit deny in an identity-based policy');
  });

  it('evaluates resource tag conditions on the existing instance', async () => {
    const ec2 = new EC2Client(as(credentials));
    const launch = (tags: { Key: string; Value: string }[]) =>
      admin.ec2().send(
        new RunInstancesCommand({
          ImageId: AMI,
          MinCount: 1,
          MaxCount: 1,
          InstanceType: 't3.micro',
          ...(tags.length ? { TagSpecifications: [{ ResourceType: 'instance', Tags: tags }] } : {}),
        }),
      );
    const ours = (await launch([{ Key: MANAGED_BY, Value: 'session-lab' }])).Instances![0]!.InstanceId!;
    const theirs = (await launch([{ Key: MANAGED_BY, Value: 'someone-else' }])).Instances![0]!.InstanceId!;
    await ec2.send(new DescribeInstancesCommand({ InstanceIds: [ours, theirs] }));
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [ours] }));
    const err = await ec2
      .send(new TerminateInstancesCommand({ InstanceIds: [theirs] }))
      .catch((e: Error) => e);
    expect(err).toMatchObject({ name: 'UnauthorizedOperation' });
    expect((err as Error).message).toBe(
      `You are not authorized to perform this operation. User: ${SESSION_ARN} is not authorized to perform: ` +
        `ec2:TerminateInstances on resource: arn:aws:ec2:${TEST_REGION}:${ACCOUNT}:instance/${theirs} ` +
        'because no identity-based policy allows the ec2:TerminateInstances action',
    );
  });

  it('requires iam:PassRole to EC2 for the role inside the instance profile RunInstances names', async () => {
    const iam = admin.iam();
    for (const [role, profile] of [
      ['PassableRole', 'PassableProfile'],
      ['OtherRole', 'OtherProfile'],
    ] as const) {
      await iam.send(
        new CreateRoleCommand({
          RoleName: role,
          AssumeRolePolicyDocument: trust({ Service: 'ec2.amazonaws.com' }),
        }),
      );
      await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: profile }));
      await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: profile, RoleName: role }));
    }
    const ec2 = new EC2Client(as(credentials));
    const run = (profile: string) =>
      ec2.send(
        new RunInstancesCommand({
          ImageId: AMI,
          MinCount: 1,
          MaxCount: 1,
          InstanceType: 't3.micro',
          IamInstanceProfile: { Name: profile },
          TagSpecifications: [
            { ResourceType: 'instance', Tags: [{ Key: MANAGED_BY, Value: 'session-lab' }] },
          ],
        }),
      );
    const launched = await run('PassableProfile');
    expect(launched.Instances).toHaveLength(1);
    const err = await run('OtherProfile').catch((e: Error) => e);
    expect(err).toMatchObject({ name: 'UnauthorizedOperation' });
    expect((err as Error).message).toContain(
      `iam:PassRole on resource: arn:aws:iam::${ACCOUNT}:role/OtherRole because no identity-based policy allows`,
    );
  });

  it('refuses credentials for a service the trust policy does not name, and checks source conditions', async () => {
    const refused = await control({ roleArn: ROLE_ARN, service: 'ec2.amazonaws.com', sessionName: 'x1' });
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code: 'AccessDenied' });
    expect(refused.body.error).toContain(`sts:AssumeRole on resource: ${ROLE_ARN}`);
    const missing = await control({
      roleArn: `arn:aws:iam::${ACCOUNT}:role/NoSuchRole`,
      service: 'lambda.amazonaws.com',
      sessionName: 'x2',
    });
    expect(missing).toMatchObject({ status: 403, body: { code: 'AccessDenied' } });

    await admin.iam().send(
      new CreateRoleCommand({
        RoleName: 'ConditionalRole',
        AssumeRolePolicyDocument: trust(
          { Service: 'lambda.amazonaws.com' },
          { StringEquals: { 'aws:SourceAccount': ACCOUNT } },
        ),
      }),
    );
    const conditional = {
      roleArn: `arn:aws:iam::${ACCOUNT}:role/ConditionalRole`,
      service: 'lambda.amazonaws.com',
    };
    expect((await control({ ...conditional, sessionName: 'x3' })).status).toBe(403);
    expect((await control({ ...conditional, sessionName: 'x4', sourceAccount: '210987654321' })).status).toBe(
      403,
    );
    expect((await control({ ...conditional, sessionName: 'x5', sourceAccount: ACCOUNT })).status).toBe(200);
  });

  it('serves STS AssumeRole for IAM users: identity policy and trust policy both decide', async () => {
    const iam = admin.iam();
    const user = 'ops-user';
    const userArn = `arn:aws:iam::${ACCOUNT}:user/${user}`;
    await iam.send(new CreateUserCommand({ UserName: user }));
    await iam.send(
      new CreateRoleCommand({ RoleName: 'OpsRole', AssumeRolePolicyDocument: trust({ AWS: userArn }) }),
    );
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: 'OpsRole',
        PolicyName: 'read',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 'ssm:GetParameter', Resource: '*' }],
        }),
      }),
    );
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: user }))).AccessKey!;
    const sts = new STSClient(as({ accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! }));
    const opsRole = `arn:aws:iam::${ACCOUNT}:role/OpsRole`;
    // No identity policy yet: refused, though the trust policy names the user.
    await expect(
      sts.send(new AssumeRoleCommand({ RoleArn: opsRole, RoleSessionName: 'ops' })),
    ).rejects.toMatchObject({ name: 'AccessDenied' });
    await iam.send(
      new PutUserPolicyCommand({
        UserName: user,
        PolicyName: 'assume',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' }],
        }),
      }),
    );
    const assumed = await sts.send(new AssumeRoleCommand({ RoleArn: opsRole, RoleSessionName: 'ops' }));
    expect(assumed.AssumedRoleUser?.Arn).toBe(`arn:aws:sts::${ACCOUNT}:assumed-role/OpsRole/ops`);
    const session = {
      accessKeyId: assumed.Credentials!.AccessKeyId!,
      secretAccessKey: assumed.Credentials!.SecretAccessKey!,
      sessionToken: assumed.Credentials!.SessionToken!,
    };
    const identity = await new STSClient(as(session)).send(new GetCallerIdentityCommand({}));
    expect(identity.Arn).toBe(`arn:aws:sts::${ACCOUNT}:assumed-role/OpsRole/ops`);
    const { Parameter } = await new SSMClient(as(session)).send(
      new GetParameterCommand({ Name: '/other/secret' }),
    );
    expect(Parameter?.Value).toBe('v');
    // The task role's trust names lambda.amazonaws.com only: the user may not assume it.
    const err = await sts
      .send(new AssumeRoleCommand({ RoleArn: ROLE_ARN, RoleSessionName: 'ops' }))
      .catch((e: Error) => e);
    expect(err).toMatchObject({ name: 'AccessDenied' });
    expect((err as Error).message).toContain(`User: ${userArn} is not authorized to perform: sts:AssumeRole`);
  });

  it("authorizes an IAM user's key by the user's policies", async () => {
    const iam = admin.iam();
    const user = 'reader';
    await iam.send(new CreateUserCommand({ UserName: user }));
    await iam.send(
      new PutUserPolicyCommand({
        UserName: user,
        PolicyName: 'one-parameter',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 'ssm:GetParameter', Resource: parameterArn('lab/allowed') }],
        }),
      }),
    );
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: user }))).AccessKey!;
    const creds = { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
    await new SSMClient(as(creds)).send(new GetParameterCommand({ Name: '/lab/allowed' }));
    const err = await new EC2Client(as(creds)).send(new DescribeInstancesCommand({})).catch((e: Error) => e);
    expect(err).toMatchObject({ name: 'UnauthorizedOperation' });
    expect((err as Error).message).toContain(
      `User: arn:aws:iam::${ACCOUNT}:user/${user} is not authorized to perform: ec2:DescribeInstances on resource: *`,
    );
  });

  it('refuses an operation it has no model for, except to the admin', async () => {
    const err = await new EC2Client(as(credentials))
      .send(new CreateVpcCommand({ CidrBlock: '10.9.0.0/16' }))
      .catch((e: Error) => e);
    expect(err).toMatchObject({ name: 'UnauthorizedOperation' });
    expect((err as Error).message).toContain('no authorization model for ec2:CreateVpc');
    const { Vpc } = await admin.ec2().send(new CreateVpcCommand({ CidrBlock: '10.9.0.0/16' }));
    expect(Vpc?.VpcId).toMatch(/^vpc-/);
  });

  it('sees an inline policy change at once (the policy cache is invalidated)', async () => {
    const ssm = new SSMClient(as(credentials));
    const read = () => ssm.send(new GetParameterCommand({ Name: '/other/secret' }));
    await expect(read()).rejects.toMatchObject({ name: 'AccessDeniedException' });
    await admin.iam().send(
      new PutRolePolicyCommand({
        RoleName: ROLE,
        PolicyName: 'more',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 'ssm:GetParameter', Resource: parameterArn('other/*') }],
        }),
      }),
    );
    await expect(read()).resolves.toMatchObject({ Parameter: { Value: 'v' } });
    await admin.iam().send(new DeleteRolePolicyCommand({ RoleName: ROLE, PolicyName: 'more' }));
    await expect(read()).rejects.toMatchObject({ name: 'AccessDeniedException' });
  });

  it('reads Secrets Manager tags and authorizes list-only actions such as DescribeLogGroups', async () => {
    const admins = new SecretsManagerClient(config());
    const tagged = await admins.send(
      new CreateSecretCommand({
        Name: 'lab/one',
        SecretString: 's',
        Tags: [{ Key: MANAGED_BY, Value: 'session-lab' }],
      }),
    );
    await admins.send(new CreateSecretCommand({ Name: 'lab/two', SecretString: 's' }));
    await new CloudWatchLogsClient(config()).send(new CreateLogGroupCommand({ logGroupName: 'lab-logs' }));
    await admin.iam().send(
      new PutRolePolicyCommand({
        RoleName: ROLE,
        PolicyName: 'secrets-and-logs',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Action: 'secretsmanager:DescribeSecret',
              Resource: '*',
              Condition: { StringEquals: { [`aws:ResourceTag/${MANAGED_BY}`]: 'session-lab' } },
            },
            { Effect: 'Allow', Action: 'logs:DescribeLogGroups', Resource: 'arn:aws:logs:*:*:log-group:*' },
          ],
        }),
      }),
    );
    const secrets = new SecretsManagerClient(as(credentials));
    // By name: authorized on the secret's real ARN (with its suffix), with its tags.
    const described = await secrets.send(new DescribeSecretCommand({ SecretId: 'lab/one' }));
    expect(described.ARN).toBe(tagged.ARN);
    const err = await secrets.send(new DescribeSecretCommand({ SecretId: 'lab/two' })).catch((e: Error) => e);
    expect(err).toMatchObject({ name: 'AccessDeniedException' });
    expect((err as Error).message).toMatch(
      /on resource: arn:aws:secretsmanager:[^ ]+:secret:lab\/two-\w{6} because/,
    );
    const { logGroups } = await new CloudWatchLogsClient(as(credentials)).send(
      new DescribeLogGroupsCommand({}),
    );
    expect(logGroups?.map((g) => g.logGroupName)).toContain('lab-logs');
  });

  it('refuses expired, unknown and token-less role credentials as AWS does', async () => {
    const ssm = (creds: Partial<Credentials>) =>
      new SSMClient(as({ ...credentials, ...creds })).send(new GetParameterCommand({ Name: '/lab/allowed' }));
    await expect(ssm({ accessKeyId: 'ASIAAAAAAAAAAAAAAAAA' })).rejects.toMatchObject({
      name: 'UnrecognizedClientException',
    });
    await expect(ssm({ sessionToken: 'forged' })).rejects.toMatchObject({
      name: 'UnrecognizedClientException',
    });
    // Two hours on: past the hour the credentials were issued for.
    const realNow = Date.now.bind(Date);
    jest.spyOn(Date, 'now').mockImplementation(() => realNow() + 2 * 3600_000);
    await expect(ssm({})).rejects.toMatchObject({ name: 'ExpiredTokenException' });
  });
});
