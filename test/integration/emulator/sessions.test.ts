import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  DescribeLogStreamsCommand,
  GetLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { EC2Client, RunInstancesCommand, type Tag } from '@aws-sdk/client-ec2';
import {
  AddRoleToInstanceProfileCommand,
  AttachRolePolicyCommand,
  AttachUserPolicyCommand,
  CreateAccessKeyCommand,
  CreateInstanceProfileCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateRoleCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  IAMClient,
  SetDefaultPolicyVersionCommand,
} from '@aws-sdk/client-iam';
import {
  CreateActivationCommand,
  CreateDocumentCommand,
  DescribeInstanceInformationCommand,
  DescribeSessionsCommand,
  GetCommandInvocationCommand,
  GetServiceSettingCommand,
  ResumeSessionCommand,
  SendCommandCommand,
  SSMClient,
  StartSessionCommand,
  TerminateSessionCommand,
  UpdateServiceSettingCommand,
} from '@aws-sdk/client-ssm';
import {
  ensureSessionLoggingPolicy,
  sessionLoggingPolicy,
  sessionLoggingPolicyName,
} from '../../../functions/shared/session-logging.js';
import { emulatorClientConfig, TEST_REGION, useEmulator } from '../../helpers/emulator.js';
import { waitFor } from '../../../local/emulator/net.js';

const ACCOUNT = '123456789012';
const USER = 'MyWorkshopUser';
const USER_ARN = `arn:aws:iam::${ACCOUNT}:user/${USER}`;
const TIER_ARN = `arn:aws:ssm:${TEST_REGION}:${ACCOUNT}:servicesetting/ssm/managed-instance/activation-tier`;

/** The seed's SSMDevAccess policy (its Deny covers EC2 instances only). */
const SSM_DEV_ACCESS = JSON.stringify({
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
      Resource: 'arn:aws:ssm:*:*:session/${aws:username}-*',
    },
    {
      Sid: 'DenySMtoProd',
      Effect: 'Deny',
      Action: 'ssm:StartSession',
      Resource: ['arn:aws:ec2:*:*:instance/*'],
      Condition: { StringLike: { 'ssm:resourceTag/Environment': 'Prod' } },
    },
  ],
});

const trust = (service: string) =>
  JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { Service: service }, Action: 'sts:AssumeRole' }],
  });

const preferences = (inputs: Record<string, unknown>) =>
  JSON.stringify({
    schemaVersion: '1.0',
    description: 'Session Manager preferences',
    sessionType: 'Standard_Stream',
    inputs: {
      s3BucketName: '',
      s3KeyPrefix: '',
      s3EncryptionEnabled: false,
      cloudWatchEncryptionEnabled: false,
      cloudWatchStreamingEnabled: false,
      kmsKeyId: '',
      runAsEnabled: false,
      runAsDefaultUser: '',
      // Long enough at this time scale (60 model minutes = 36 s) for no session to idle out mid-test.
      idleSessionTimeout: '60',
      shellProfile: { windows: '', linux: '' },
      ...inputs,
    },
  });

describe('Session Manager sessions, logging and CloudTrail', () => {
  // 0.01: a 40 s boot is 0.4 s, a 120 s tier change 1.2 s, CloudTrail's 120 s delivery 1.2 s.
  // The tier switch takes 500 model seconds (5 s real): the check made while it is pending must
  // land inside it on a loaded machine (at the profile's 120, 1.2 s real, a CI run missed it).
  const emulator = useEmulator({ time: { scale: 0.01, tierChangeSeconds: 500 } });
  const config = () => emulatorClientConfig(emulator());
  const admin = {
    ssm: () => new SSMClient(config()),
    iam: () => new IAMClient(config()),
    ec2: () => new EC2Client(config()),
    logs: () => new CloudWatchLogsClient(config()),
    trail: () => new CloudTrailClient(config()),
  };
  let userSsm: SSMClient;
  let userAccessKeyId: string;
  const nodes: Record<'devEc2' | 'prodEc2' | 'devHybrid' | 'prodHybrid', string> = {
    devEc2: '',
    prodEc2: '',
    devHybrid: '',
    prodHybrid: '',
  };

  const launch = async (tags: Record<string, string>) => {
    const Tags: Tag[] = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
    const { Instances } = await admin.ec2().send(
      new RunInstancesCommand({
        ImageId: 'ami-0080e4c5bc078760e',
        InstanceType: 't3.micro',
        MinCount: 1,
        MaxCount: 1,
        IamInstanceProfile: { Name: 'SSMLabProfile' },
        TagSpecifications: [{ ResourceType: 'instance', Tags }],
      }),
    );
    return Instances![0]!.InstanceId!;
  };

  const onlineNodes = async () =>
    (
      await admin.ssm().send(
        new DescribeInstanceInformationCommand({
          Filters: [{ Key: 'PingStatus', Values: ['Online'] }],
          MaxResults: 50,
        }),
      )
    ).InstanceInformationList ?? [];

  const waitOnline = (id: string) =>
    waitFor(async () => (await onlineNodes()).some((n) => n.InstanceId === id), {
      timeoutMs: 60_000,
      intervalMs: 50,
      what: `${id} to come Online`,
    });

  /** Registers the agent of an EC2 node with an activation through Run Command (the OnPrem identity wins). */
  const registerHybrid = async (hostId: string, environment: string) => {
    const activation = await admin.ssm().send(
      new CreateActivationCommand({
        IamRole: 'SSMServiceRole',
        DefaultInstanceName: `${environment}OnPrem`,
        RegistrationLimit: 1,
        Tags: [{ Key: 'Environment', Value: environment }],
      }),
    );
    const { Command } = await admin.ssm().send(
      new SendCommandCommand({
        DocumentName: 'AWS-RunShellScript',
        InstanceIds: [hostId],
        Parameters: {
          commands: [
            'set -e',
            'sudo systemctl stop amazon-ssm-agent',
            `sudo amazon-ssm-agent -register -code "${activation.ActivationCode}" -id "${activation.ActivationId}" -region "${TEST_REGION}" -y`,
            'sudo systemctl start amazon-ssm-agent',
          ],
        },
      }),
    );
    let status = '';
    await waitFor(
      async () => {
        try {
          const invocation = await admin
            .ssm()
            .send(new GetCommandInvocationCommand({ CommandId: Command!.CommandId!, InstanceId: hostId }));
          status = invocation.Status ?? '';
          if (status === 'Failed') throw new Error(`registration failed: ${invocation.StandardErrorContent}`);
          return status === 'Success';
        } catch (err) {
          if ((err as Error).name === 'InvocationDoesNotExist') return false;
          throw err;
        }
      },
      { timeoutMs: 60_000, intervalMs: 50, what: `registration on ${hostId}` },
    );
    let nodeId = '';
    await waitFor(
      async () => {
        const list = await admin.ssm().send(
          new DescribeInstanceInformationCommand({
            Filters: [{ Key: 'ActivationIds', Values: [activation.ActivationId!] }],
          }),
        );
        const node = list.InstanceInformationList?.find((n) => n.PingStatus === 'Online');
        nodeId = node?.InstanceId ?? '';
        return nodeId !== '';
      },
      { timeoutMs: 60_000, intervalMs: 50, what: `the ${environment} hybrid node` },
    );
    return nodeId;
  };

  const sessionInput = async (sessionId: string, command: string) => {
    const res = await fetch(`${emulator().url}/__emulator/session-input`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sessionId, command }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  const listSessions = async (State: 'Active' | 'History', sessionId?: string, client = admin.ssm()) =>
    (
      await client.send(
        new DescribeSessionsCommand({
          State,
          ...(sessionId ? { Filters: [{ key: 'SessionId', value: sessionId }] } : {}),
        }),
      )
    ).Sessions ?? [];

  const waitTerminated = (sessionId: string) =>
    waitFor(async () => (await listSessions('History', sessionId))[0]?.Status === 'Terminated', {
      timeoutMs: 30_000,
      intervalMs: 50,
      what: `${sessionId} to be Terminated`,
    });

  beforeAll(async () => {
    const iam = admin.iam();
    // The shared roles as create-instance-role and create-service-role leave them.
    await iam.send(
      new CreateRoleCommand({ RoleName: 'SSMLabRole', AssumeRolePolicyDocument: trust('ec2.amazonaws.com') }),
    );
    await iam.send(
      new AttachRolePolicyCommand({
        RoleName: 'SSMLabRole',
        PolicyArn: 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore',
      }),
    );
    await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: 'SSMLabProfile' }));
    await iam.send(
      new AddRoleToInstanceProfileCommand({ InstanceProfileName: 'SSMLabProfile', RoleName: 'SSMLabRole' }),
    );
    await iam.send(
      new CreateRoleCommand({
        RoleName: 'SSMServiceRole',
        AssumeRolePolicyDocument: trust('ssm.amazonaws.com'),
      }),
    );
    for (const policy of ['AmazonSSMManagedInstanceCore', 'CloudWatchAgentServerPolicy']) {
      await iam.send(
        new AttachRolePolicyCommand({
          RoleName: 'SSMServiceRole',
          PolicyArn: `arn:aws:iam::aws:policy/${policy}`,
        }),
      );
    }

    await iam.send(new CreateUserCommand({ UserName: USER }));
    const policy = await iam.send(
      new CreatePolicyCommand({ PolicyName: 'SSMDevAccess', PolicyDocument: SSM_DEV_ACCESS }),
    );
    await iam.send(new AttachUserPolicyCommand({ UserName: USER, PolicyArn: policy.Policy!.Arn! }));
    const key = await iam.send(new CreateAccessKeyCommand({ UserName: USER }));
    userAccessKeyId = key.AccessKey!.AccessKeyId!;
    userSsm = new SSMClient({
      ...config(),
      credentials: { accessKeyId: userAccessKeyId, secretAccessKey: key.AccessKey!.SecretAccessKey! },
    });

    // The session logging grants configure-session-logging gives the roles (its own code): for the
    // lab's group SSM-Logs as the task names it, and for the groups of the custom Session documents
    // below under names of their own, as labs logging there would have them.
    const scope = { partition: 'aws', region: TEST_REGION, accountId: ACCOUNT };
    for (const [logGroupName, policyName] of [
      ['SSM-Logs', sessionLoggingPolicyName(TEST_REGION)],
      ['SSM-Stream', 'StreamLogging'],
      ['SSM-RunAs', 'RunAsLogging'],
      ['SSM-Encrypted', 'EncryptedLogging'],
    ] as const) {
      await ensureSessionLoggingPolicy(iam, policyName, sessionLoggingPolicy({ logGroupName }, scope));
    }

    await admin.logs().send(new CreateLogGroupCommand({ logGroupName: 'SSM-Logs' }));
    await admin.ssm().send(
      new CreateDocumentCommand({
        Name: 'SSM-SessionManagerRunShell',
        DocumentType: 'Session',
        DocumentFormat: 'JSON',
        Content: preferences({ cloudWatchLogGroupName: 'SSM-Logs' }),
      }),
    );

    nodes.devEc2 = await launch({ Name: 'DevEC2Instance', Environment: 'Dev' });
    nodes.prodEc2 = await launch({ Name: 'ProdEC2Instance', Environment: 'Prod' });
    const devHost = await launch({ Name: 'DevOnPrem' });
    const prodHost = await launch({ Name: 'ProdOnPrem' });
    for (const id of [nodes.devEc2, nodes.prodEc2, devHost, prodHost]) await waitOnline(id);
    nodes.devHybrid = await registerHybrid(devHost, 'Dev');
    nodes.prodHybrid = await registerHybrid(prodHost, 'Prod');
  }, 240_000);

  it('lets the lab user start a session on the Dev EC2 instance and denies the Prod one', async () => {
    const started = await userSsm.send(
      new StartSessionCommand({ Target: nodes.devEc2, Reason: 'check dev' }),
    );
    expect(started.SessionId).toMatch(new RegExp(`^${USER}-[0-9a-f]{17}$`));
    expect(started.StreamUrl).toBe(
      `wss://ssmmessages.${TEST_REGION}.amazonaws.com/v1/data-channel/${started.SessionId}?role=publish_subscribe`,
    );
    expect(started.TokenValue).toBeTruthy();

    const prodArn = `arn:aws:ec2:${TEST_REGION}:${ACCOUNT}:instance/${nodes.prodEc2}`;
    const denied = await userSsm
      .send(new StartSessionCommand({ Target: nodes.prodEc2 }))
      .catch((e: unknown) => e);
    expect(denied).toMatchObject({ name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } });
    expect((denied as Error).message).toBe(
      `User: ${USER_ARN} is not authorized to perform: ssm:StartSession on resource: ${prodArn} with an explicit deny in an identity-based policy`,
    );

    // The account's admin (any key IAM did not issue) is allowed everything.
    const adminSession = await admin.ssm().send(new StartSessionCommand({ Target: nodes.prodEc2 }));
    expect(adminSession.SessionId).toMatch(/^session-[0-9a-f]{17}$/);

    // SameUserTerminate: the lab user ends its own sessions only (${aws:username}).
    await expect(
      userSsm.send(new TerminateSessionCommand({ SessionId: adminSession.SessionId })),
    ).rejects.toMatchObject({ name: 'AccessDeniedException' });
    await userSsm.send(new TerminateSessionCommand({ SessionId: started.SessionId }));
    await admin.ssm().send(new TerminateSessionCommand({ SessionId: adminSession.SessionId }));
  });

  it('refuses a deleted access key instead of treating it as the admin', async () => {
    const key = await admin.iam().send(new CreateAccessKeyCommand({ UserName: USER }));
    const client = new SSMClient({
      ...config(),
      credentials: {
        accessKeyId: key.AccessKey!.AccessKeyId!,
        secretAccessKey: key.AccessKey!.SecretAccessKey!,
      },
    });
    await expect(client.send(new StartSessionCommand({ Target: nodes.prodEc2 }))).rejects.toMatchObject({
      name: 'AccessDeniedException',
    });
    await admin
      .iam()
      .send(new DeleteAccessKeyCommand({ UserName: USER, AccessKeyId: key.AccessKey!.AccessKeyId! }));
    await expect(client.send(new StartSessionCommand({ Target: nodes.prodEc2 }))).rejects.toMatchObject({
      name: 'UnrecognizedClientException',
    });
  });

  it('answers TargetNotConnected for unknown targets and hosts that are not managed nodes', async () => {
    const { Instances } = await admin.ec2().send(
      new RunInstancesCommand({
        ImageId: 'ami-0080e4c5bc078760e',
        InstanceType: 't3.micro',
        MinCount: 1,
        MaxCount: 1,
      }),
    );
    for (const Target of ['i-0123456789abcdef0', 'mi-0123456789abcdef0', Instances![0]!.InstanceId!]) {
      const err = await admin
        .ssm()
        .send(new StartSessionCommand({ Target }))
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'TargetNotConnected', $metadata: { httpStatusCode: 430 } });
      expect((err as Error).message).toBe(`${Target} is not connected.`);
    }
  });

  it('refuses hybrid nodes on the standard tier with BadRequest and allows them once advanced (the seed gap included)', async () => {
    const err = await userSsm
      .send(new StartSessionCommand({ Target: nodes.devHybrid }))
      .catch((e: unknown) => e);
    expect(err).toMatchObject({
      name: 'BadRequest',
      message: 'Enable advanced-instances tier to use Session Manager with your on-premises instances',
    });

    await admin
      .ssm()
      .send(new UpdateServiceSettingCommand({ SettingId: TIER_ARN, SettingValue: 'advanced' }));
    // While the change is pending, the standard tier is still in effect.
    await expect(userSsm.send(new StartSessionCommand({ Target: nodes.devHybrid }))).rejects.toMatchObject({
      name: 'BadRequest',
    });
    await waitFor(
      async () =>
        (await admin.ssm().send(new GetServiceSettingCommand({ SettingId: TIER_ARN }))).ServiceSetting
          ?.Status === 'Customized',
      { timeoutMs: 30_000, intervalMs: 50, what: 'the advanced tier' },
    );
    const dev = await userSsm.send(new StartSessionCommand({ Target: nodes.devHybrid }));
    expect(dev.SessionId).toMatch(new RegExp(`^${USER}-`));
    // The seed's Deny names EC2 instances only, so the Prod-tagged hybrid node stays reachable.
    const prod = await userSsm.send(new StartSessionCommand({ Target: nodes.prodHybrid }));
    expect(prod.SessionId).toMatch(new RegExp(`^${USER}-`));

    const prodOutput = await sessionInput(prod.SessionId!, 'whoami');
    expect(prodOutput).toMatchObject({ status: 200, body: { exitCode: 0, stdout: 'ssm-user\n' } });
    for (const s of [dev, prod]) await userSsm.send(new TerminateSessionCommand({ SessionId: s.SessionId }));

    // With the Deny extended to managed-instance/* (facts 5.2), the hybrid Prod node is refused too.
    const corrected = JSON.parse(SSM_DEV_ACCESS) as { Statement: Array<{ Sid?: string; Resource: unknown }> };
    corrected.Statement.find((st) => st.Sid === 'DenySMtoProd')!.Resource = [
      'arn:aws:ec2:*:*:instance/*',
      'arn:aws:ssm:*:*:managed-instance/*',
    ];
    await admin.iam().send(
      new CreatePolicyVersionCommand({
        PolicyArn: `arn:aws:iam::${ACCOUNT}:policy/SSMDevAccess`,
        PolicyDocument: JSON.stringify(corrected),
        SetAsDefault: true,
      }),
    );
    const refused = await userSsm
      .send(new StartSessionCommand({ Target: nodes.prodHybrid }))
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ name: 'AccessDeniedException' });
    expect((refused as Error).message).toContain(
      `on resource: arn:aws:ssm:${TEST_REGION}:${ACCOUNT}:managed-instance/${nodes.prodHybrid}`,
    );
    const stillDev = await userSsm.send(new StartSessionCommand({ Target: nodes.devHybrid }));
    await userSsm.send(new TerminateSessionCommand({ SessionId: stillDev.SessionId }));
    await admin.iam().send(
      new SetDefaultPolicyVersionCommand({
        PolicyArn: `arn:aws:iam::${ACCOUNT}:policy/SSMDevAccess`,
        VersionId: 'v1',
      }),
    );
  });

  it('lists Active and History sessions with filters; TerminateSession is idempotent; ResumeSession only while active', async () => {
    const { SessionId } = await userSsm.send(
      new StartSessionCommand({ Target: nodes.devEc2, Reason: 'listing' }),
    );
    const [active] = await listSessions('Active', SessionId, userSsm);
    expect(active).toMatchObject({
      SessionId,
      Target: nodes.devEc2,
      Status: 'Connected',
      DocumentName: 'SSM-SessionManagerRunShell',
      Owner: USER_ARN,
      Reason: 'listing',
    });
    expect(active!.StartDate).toBeInstanceOf(Date);
    expect(active!.EndDate).toBeUndefined();
    const byOwner = await admin
      .ssm()
      .send(new DescribeSessionsCommand({ State: 'Active', Filters: [{ key: 'Owner', value: USER_ARN }] }));
    expect(byOwner.Sessions!.map((s) => s.SessionId)).toContain(SessionId);
    const byTarget = await admin
      .ssm()
      .send(
        new DescribeSessionsCommand({ State: 'Active', Filters: [{ key: 'Target', value: nodes.prodEc2 }] }),
      );
    expect(byTarget.Sessions!.map((s) => s.SessionId)).not.toContain(SessionId);

    // The seed's policy grants no ssm:ResumeSession; the admin may resume.
    await expect(userSsm.send(new ResumeSessionCommand({ SessionId }))).rejects.toMatchObject({
      name: 'AccessDeniedException',
    });
    const resumed = await admin.ssm().send(new ResumeSessionCommand({ SessionId }));
    expect(resumed.SessionId).toBe(SessionId);

    const terminated = await userSsm.send(new TerminateSessionCommand({ SessionId }));
    expect(terminated.SessionId).toBe(SessionId);
    expect(await listSessions('Active', SessionId)).toEqual([]);
    const [ending] = await listSessions('History', SessionId);
    expect(ending!.Status).toBe('Terminating');
    expect(ending!.EndDate).toBeInstanceOf(Date);
    await waitTerminated(SessionId!);
    // Idempotent: terminating again changes nothing.
    await userSsm.send(new TerminateSessionCommand({ SessionId }));
    expect((await listSessions('History', SessionId))[0]!.Status).toBe('Terminated');
    await expect(admin.ssm().send(new ResumeSessionCommand({ SessionId }))).rejects.toMatchObject({
      name: 'DoesNotExistException',
    });

    // Paging.
    const first = await admin.ssm().send(new DescribeSessionsCommand({ State: 'History', MaxResults: 1 }));
    expect(first.Sessions).toHaveLength(1);
    expect(first.NextToken).toBeTruthy();
    const second = await admin
      .ssm()
      .send(new DescribeSessionsCommand({ State: 'History', MaxResults: 1, NextToken: first.NextToken }));
    expect(second.Sessions![0]!.SessionId).not.toBe(first.Sessions![0]!.SessionId);

    await expect(
      admin
        .ssm()
        .send(
          new DescribeSessionsCommand({ State: 'Active', Filters: [{ key: 'Colour' as never, value: 'x' }] }),
        ),
    ).rejects.toMatchObject({ name: 'InvalidFilterKey' });
    await expect(
      admin.ssm().send(new DescribeSessionsCommand({ State: 'Active', MaxResults: 500 })),
    ).rejects.toMatchObject({ name: 'ValidationException' });
  });

  it('writes the transcript to the preferences log group as a stream named after the session', async () => {
    const { SessionId } = await userSsm.send(new StartSessionCommand({ Target: nodes.devEc2 }));
    const whoami = await sessionInput(SessionId!, 'whoami');
    expect(whoami).toMatchObject({ status: 200, body: { exitCode: 0, stdout: 'ssm-user\n', stderr: '' } });
    const echo = await sessionInput(SessionId!, 'echo "hello from $(whoami)"; exit 3');
    expect(echo.body).toMatchObject({ exitCode: 3, stdout: 'hello from ssm-user\n' });

    // Without streaming, the log is uploaded when the session ends.
    const before = await admin.logs().send(new DescribeLogStreamsCommand({ logGroupName: 'SSM-Logs' }));
    expect(before.logStreams?.map((s) => s.logStreamName) ?? []).not.toContain(SessionId);
    await userSsm.send(new TerminateSessionCommand({ SessionId }));
    await waitTerminated(SessionId!);
    const [history] = await listSessions('History', SessionId);
    expect(history!.OutputUrl?.CloudWatchOutputUrl).toContain(`group=SSM-Logs;stream=${SessionId}`);

    const { events } = await admin
      .logs()
      .send(
        new GetLogEventsCommand({ logGroupName: 'SSM-Logs', logStreamName: SessionId, startFromHead: true }),
      );
    expect(events!.map((e) => e.message)).toEqual([
      'sh-5.2$ whoami\nssm-user',
      'sh-5.2$ echo "hello from $(whoami)"; exit 3\nhello from ssm-user',
    ]);

    // After the end, the channel is closed.
    const closed = await sessionInput(SessionId!, 'whoami');
    expect(closed.status).toBe(409);
  });

  it('writes no transcript where the node\u2019s role has no logging grant (the agent logs with its own role)', async () => {
    await admin.logs().send(new CreateLogGroupCommand({ logGroupName: 'SSM-Ungranted' }));
    await admin.ssm().send(
      new CreateDocumentCommand({
        Name: 'Lab-UngrantedShell',
        DocumentType: 'Session',
        DocumentFormat: 'JSON',
        Content: preferences({ cloudWatchLogGroupName: 'SSM-Ungranted', cloudWatchStreamingEnabled: true }),
      }),
    );
    const { SessionId } = await userSsm.send(
      new StartSessionCommand({ Target: nodes.devEc2, DocumentName: 'Lab-UngrantedShell' }),
    );
    expect((await sessionInput(SessionId!, 'whoami')).body).toMatchObject({ stdout: 'ssm-user\n' });
    await userSsm.send(new TerminateSessionCommand({ SessionId }));
    await waitTerminated(SessionId!);
    const { logStreams } = await admin
      .logs()
      .send(new DescribeLogStreamsCommand({ logGroupName: 'SSM-Ungranted' }));
    expect(logStreams ?? []).toEqual([]);
  });

  it('streams JSON records with cloudWatchStreamingEnabled (custom Session document)', async () => {
    await admin.logs().send(new CreateLogGroupCommand({ logGroupName: 'SSM-Stream' }));
    await admin.ssm().send(
      new CreateDocumentCommand({
        Name: 'Lab-StreamingShell',
        DocumentType: 'Session',
        DocumentFormat: 'JSON',
        Content: preferences({ cloudWatchLogGroupName: 'SSM-Stream', cloudWatchStreamingEnabled: true }),
      }),
    );
    const { SessionId } = await userSsm.send(
      new StartSessionCommand({ Target: nodes.devEc2, DocumentName: 'Lab-StreamingShell' }),
    );
    await sessionInput(SessionId!, 'whoami');
    // Streamed as it happens, before the session ends.
    const { events } = await admin.logs().send(
      new GetLogEventsCommand({
        logGroupName: 'SSM-Stream',
        logStreamName: SessionId,
        startFromHead: true,
      }),
    );
    expect(events).toHaveLength(1);
    expect(JSON.parse(events![0]!.message!)).toMatchObject({
      eventVersion: '1.0',
      awsRegion: TEST_REGION,
      target: { id: nodes.devEc2 },
      userIdentity: { arn: USER_ARN },
      runAsUser: 'ssm-user',
      sessionId: SessionId,
      sessionData: ['sh-5.2$ whoami', 'ssm-user'],
    });
    await userSsm.send(new TerminateSessionCommand({ SessionId }));

    await expect(
      userSsm.send(new StartSessionCommand({ Target: nodes.devEc2, DocumentName: 'No-Such-Document' })),
    ).rejects.toMatchObject({ name: 'InvalidDocument' });
  });

  it('runs as the Run As user and runs the shell profile first', async () => {
    await admin.logs().send(new CreateLogGroupCommand({ logGroupName: 'SSM-RunAs' }));
    await admin.ssm().send(
      new CreateDocumentCommand({
        Name: 'Lab-RunAsShell',
        DocumentType: 'Session',
        DocumentFormat: 'JSON',
        Content: preferences({
          cloudWatchLogGroupName: 'SSM-RunAs',
          runAsEnabled: true,
          runAsDefaultUser: 'ec2-user',
          shellProfile: { windows: '', linux: 'echo "profile for $(whoami)"' },
          maxSessionDuration: '60',
        }),
      }),
    );
    const { SessionId } = await userSsm.send(
      new StartSessionCommand({ Target: nodes.devEc2, DocumentName: 'Lab-RunAsShell' }),
    );
    expect((await sessionInput(SessionId!, 'whoami')).body).toMatchObject({ stdout: 'ec2-user\n' });
    expect((await listSessions('Active', SessionId))[0]).toMatchObject({ MaxSessionDuration: '60' });
    await userSsm.send(new TerminateSessionCommand({ SessionId }));
    await waitTerminated(SessionId!);
    const { events } = await admin
      .logs()
      .send(
        new GetLogEventsCommand({ logGroupName: 'SSM-RunAs', logStreamName: SessionId, startFromHead: true }),
      );
    expect(events!.map((e) => e.message)).toEqual([
      'sh-5.2$ echo "profile for $(whoami)"\nprofile for ec2-user',
      'sh-5.2$ whoami\nec2-user',
    ]);
  });

  it('ends a session at its maximum duration', async () => {
    await admin.ssm().send(
      new CreateDocumentCommand({
        Name: 'Lab-ShortShell',
        DocumentType: 'Session',
        DocumentFormat: 'JSON',
        // One model minute = 0.6 s at this scale.
        Content: preferences({ maxSessionDuration: '1' }),
      }),
    );
    const { SessionId } = await admin
      .ssm()
      .send(new StartSessionCommand({ Target: nodes.devEc2, DocumentName: 'Lab-ShortShell' }));
    await waitTerminated(SessionId!);
    const [ended] = await listSessions('History', SessionId);
    expect(ended!.Details).toBe('Session reached its maximum duration of 1 minutes.');
  });

  it('fails the session as the agent does when encryption is required and the log group has no KMS key', async () => {
    await admin.ssm().send(
      new CreateDocumentCommand({
        Name: 'Lab-EncryptedShell',
        DocumentType: 'Session',
        DocumentFormat: 'JSON',
        Content: preferences({ cloudWatchLogGroupName: 'SSM-Logs', cloudWatchEncryptionEnabled: true }),
      }),
    );
    const { SessionId } = await admin
      .ssm()
      .send(new StartSessionCommand({ Target: nodes.devEc2, DocumentName: 'Lab-EncryptedShell' }));
    const [failed] = await listSessions('History', SessionId);
    expect(failed).toMatchObject({ Status: 'Failed' });
    expect(failed!.Details).toContain('encryption is not set up on the selected CloudWatch Logs log group');
    expect((await sessionInput(SessionId!, 'whoami')).status).toBe(409);

    // With a KMS key on the group, the same preferences work.
    await admin.logs().send(
      new CreateLogGroupCommand({
        logGroupName: 'SSM-Encrypted',
        kmsKeyId: `arn:aws:kms:${TEST_REGION}:${ACCOUNT}:key/0e5e9c1e-2c3b-4d53-9a3a-5c6b7d8e9f00`,
      }),
    );
    await admin.ssm().send(
      new CreateDocumentCommand({
        Name: 'Lab-EncryptedShell2',
        DocumentType: 'Session',
        DocumentFormat: 'JSON',
        Content: preferences({ cloudWatchLogGroupName: 'SSM-Encrypted', cloudWatchEncryptionEnabled: true }),
      }),
    );
    const ok = await admin
      .ssm()
      .send(new StartSessionCommand({ Target: nodes.devEc2, DocumentName: 'Lab-EncryptedShell2' }));
    expect((await listSessions('Active', ok.SessionId))[0]!.Status).toBe('Connected');
    await admin.ssm().send(new TerminateSessionCommand({ SessionId: ok.SessionId }));
  });

  it('shows the session events in CloudTrail after delivery, denied attempts included', async () => {
    const lookup = (
      AttributeKey: 'EventName' | 'Username' | 'AccessKeyId',
      AttributeValue: string,
      NextToken?: string,
    ) =>
      admin.trail().send(
        new LookupEventsCommand({
          LookupAttributes: [{ AttributeKey, AttributeValue }],
          MaxResults: 50,
          NextToken,
        }),
      );
    // CloudTrail delivers after a delay: poll, as the product must.
    await waitFor(
      async () => ((await lookup('EventName', 'StartSession')).Events ?? []).some((e) => e.Username === USER),
      {
        timeoutMs: 10_000,
        intervalMs: 100,
        what: 'StartSession events',
      },
    );
    const starts = (await lookup('EventName', 'StartSession')).Events!;
    expect(starts.every((e) => e.EventSource === 'ssm.amazonaws.com' && e.ReadOnly === 'false')).toBe(true);
    const times = starts.map((e) => e.EventTime!.getTime());
    expect([...times].sort((a, b) => b - a)).toEqual(times);

    const denied = starts.find(
      (e) =>
        e.AccessKeyId === userAccessKeyId &&
        JSON.parse(e.CloudTrailEvent!).errorCode === 'AccessDenied' &&
        e.Resources?.[0]?.ResourceName === nodes.prodEc2,
    );
    expect(denied).toBeDefined();
    expect(denied).toMatchObject({
      Username: USER,
      AccessKeyId: userAccessKeyId,
      Resources: [{ ResourceType: 'AWS::EC2::Instance', ResourceName: nodes.prodEc2 }],
    });
    const record = JSON.parse(denied!.CloudTrailEvent!);
    expect(record).toMatchObject({
      eventSource: 'ssm.amazonaws.com',
      eventName: 'StartSession',
      awsRegion: TEST_REGION,
      userIdentity: { type: 'IAMUser', arn: USER_ARN, accountId: ACCOUNT, userName: USER },
      requestParameters: { target: nodes.prodEc2 },
      responseElements: null,
    });
    expect(record.errorMessage).toContain('is not authorized to perform: ssm:StartSession');

    const allowed = starts.find(
      (e) =>
        e.Username === USER && JSON.parse(e.CloudTrailEvent!).requestParameters.target === nodes.devHybrid,
    );
    expect(JSON.parse(allowed!.CloudTrailEvent!).responseElements).toMatchObject({
      sessionId: expect.stringMatching(new RegExp(`^${USER}-`)),
      tokenValue: 'Value hidden due to security reasons.',
    });
    expect(allowed!.Resources).toEqual([
      { ResourceType: 'AWS::SSM::ManagedInstance', ResourceName: nodes.devHybrid },
    ]);

    const terminations = (await lookup('EventName', 'TerminateSession')).Events!;
    expect(terminations.length).toBeGreaterThan(0);
    expect(terminations.every((e) => e.EventName === 'TerminateSession')).toBe(true);
    const byKey = (await lookup('AccessKeyId', userAccessKeyId)).Events!;
    expect(byKey.every((e) => e.Username === USER)).toBe(true);

    // Pages of at most MaxResults, continued with NextToken.
    const page1 = await admin.trail().send(
      new LookupEventsCommand({
        LookupAttributes: [{ AttributeKey: 'Username', AttributeValue: USER }],
        MaxResults: 2,
      }),
    );
    expect(page1.Events).toHaveLength(2);
    const page2 = await admin.trail().send(
      new LookupEventsCommand({
        LookupAttributes: [{ AttributeKey: 'Username', AttributeValue: USER }],
        MaxResults: 2,
        NextToken: page1.NextToken,
      }),
    );
    expect(page2.Events!.map((e) => e.EventId)).not.toContain(page1.Events![0]!.EventId);

    await expect(
      admin.trail().send(
        new LookupEventsCommand({
          LookupAttributes: [
            { AttributeKey: 'EventName', AttributeValue: 'StartSession' },
            { AttributeKey: 'Username', AttributeValue: USER },
          ],
        }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidLookupAttributesException' });
    await expect(admin.trail().send(new LookupEventsCommand({ MaxResults: 51 }))).rejects.toMatchObject({
      name: 'InvalidMaxResultsException',
    });
    await expect(
      admin
        .trail()
        .send(new LookupEventsCommand({ StartTime: new Date(), EndTime: new Date(Date.now() - 60_000) })),
    ).rejects.toMatchObject({ name: 'InvalidTimeRangeException' });
  });
});
