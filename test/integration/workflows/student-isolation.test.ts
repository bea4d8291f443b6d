import { describe, expect, it } from '@jest/globals';
import {
  CloudWatchLogsClient,
  CreateLogStreamCommand,
  DeleteLogGroupCommand,
  FilterLogEventsCommand,
  GetLogEventsCommand,
  PutRetentionPolicyCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import {
  DescribeInstancesCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  CreateAccessKeyCommand,
  GetInstanceProfileCommand,
  GetRoleCommand,
  IAMClient,
} from '@aws-sdk/client-iam';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  CreateActivationCommand,
  DescribeActivationsCommand,
  DescribeInstanceInformationCommand,
  DescribeSessionsCommand,
  GetParameterCommand,
  GetParametersByPathCommand,
  PutParameterCommand,
  ResumeSessionCommand,
  SSMClient,
  StartSessionCommand,
  TerminateSessionCommand,
  UpdateDocumentCommand,
  UpdateServiceSettingCommand,
} from '@aws-sdk/client-ssm';
import { labClients } from '../../../functions/shared/clients.js';
import { SHARED_NAMES, activationTierArn, labNames } from '../../../functions/shared/names.js';
import { TAG_LAB_ID } from '../../../functions/shared/tags.js';
import { waitFor } from '../../../local/emulator/net.js';
import { runLocally } from '../../../local/runner/runner.js';
import { SHORT_DELAYS, TEST_REGION, useEmulator } from '../../helpers/emulator.js';
import { runScript } from '../../helpers/fleet.js';

const SCALE = 0.05;
const ACCOUNT = '123456789012';
/** Two labs side by side whose ids extend each other: `sec`'s user name is a prefix of `sec-01`'s. */
const A = 'sec';
const B = 'sec-01';
const LOG_GROUP = SHARED_NAMES.defaultLogGroup;
/** A transcript stream of a lab whose id neither extends nor is extended by `sec`'s. */
const THIRD_LAB_STREAM = `${labNames('other').user}-0a1b2c3d4e5f60718`;

type Clients = {
  ssm: SSMClient;
  logs: CloudWatchLogsClient;
  secrets: SecretsManagerClient;
  iam: IAMClient;
  ec2: EC2Client;
};

interface LabHosts {
  devEc2: string;
  prodEc2: string;
  devOnPrem: string;
  prodOnPrem: string;
}

/** The refusal AWS answers, by service: the error's name (its code) and the action it names. */
async function refused(call: Promise<unknown>, code: string, action?: string): Promise<void> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  expect(err?.name).toBe(code);
  if (action) expect(err?.message).toContain(`not authorized to perform: ${action}`);
}

/**
 * A student's reach in a shared account, attempted with the credentials a student really holds,
 * under the IAM the emulator enforces, against two labs provisioned side by side by the product,
 * one in each policy mode (sec strict, sec-01 seed), and a node of no lab: the workshop user's access keys (created here as the admin, used with real SDK
 * clients), root on a Dev EC2 host (its lab's own SessionLabDevHost-<labId> from its instance
 * profile) and on a DevOnPrem node (its lab's own SessionLabDevNode-<labId>, whose credentials the
 * agent shares with root), each through `aws` run on the
 * host over Run Command, and the lab's bootstrap identity (its own role, on a host launched with
 * the lab's bootstrap profile). Every attempt on the other lab, on secrets, on shared settings
 * and logs is refused with AWS's error; what the seed's exercises need still works.
 */
describe('student isolation between labs sec (strict) and sec-01 (seed)', () => {
  const emulator = useEmulator({ time: { scale: SCALE, ...SHORT_DELAYS } });
  const admin = () => labClients();
  const hosts: Record<string, LabHosts> = {};
  const student: Record<string, Clients> = {};
  /** A session of lab B's user on its own Dev node, transcript written (the victim's). */
  let victimSession = '';
  /** Lab A's own session, for the allowed paths. */
  let ownSession = '';
  /** A session of lab A's user left running, which lab B's user tries to end. */
  let aSession = '';
  /** An instance of no lab, a managed node through SSMLabProfile, tagged Dev. */
  let nonLabNode = '';
  /** Outputs of the attacks run on the hosts, by case name. */
  const onHost: Record<string, { rc: number; out: string }> = {};
  /** Lab A's activation code read by the admin once provisioned: the error name (it is deleted). */
  let codeAfterProvision = '';

  const sessionInput = async (sessionId: string, command: string) => {
    const res = await fetch(`${emulator().url}/__emulator/session-input`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sessionId, command }),
    });
    return (await res.json()) as { exitCode: number; stdout: string; stderr: string };
  };

  const clientsFor = async (labId: string): Promise<Clients> => {
    const { AccessKey } = await admin().iam.send(
      new CreateAccessKeyCommand({ UserName: labNames(labId).user }),
    );
    const config = {
      region: TEST_REGION,
      endpoint: emulator().url,
      credentials: { accessKeyId: AccessKey!.AccessKeyId!, secretAccessKey: AccessKey!.SecretAccessKey! },
      maxAttempts: 1,
    };
    return {
      ssm: new SSMClient(config),
      logs: new CloudWatchLogsClient(config),
      secrets: new SecretsManagerClient(config),
      iam: new IAMClient(config),
      ec2: new EC2Client(config),
    };
  };

  const labHosts = async (labId: string): Promise<LabHosts> => {
    const { Reservations = [] } = await admin().ec2.send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: `tag:${TAG_LAB_ID}`, Values: [labId] },
          { Name: 'instance-state-name', Values: ['running'] },
        ],
      }),
    );
    const byName = new Map(
      Reservations.flatMap((r) => r.Instances ?? []).map((i) => [
        i.Tags?.find((t) => t.Key === 'Name')?.Value,
        i.InstanceId!,
      ]),
    );
    const { InstanceInformationList = [] } = await admin().ssm.send(
      new DescribeInstanceInformationCommand({ Filters: [{ Key: `tag:${TAG_LAB_ID}`, Values: [labId] }] }),
    );
    const mi = (role: string) =>
      InstanceInformationList.find((n) => n.InstanceId?.startsWith('mi-') && n.Name === `${role}-${labId}`)
        ?.InstanceId ?? '';
    return {
      devEc2: byName.get(`DevEC2Instance-${labId}`)!,
      prodEc2: byName.get(`ProdEC2Instance-${labId}`)!,
      devOnPrem: mi('DevOnPrem'),
      prodOnPrem: mi('ProdOnPrem'),
    };
  };

  /**
   * Runs `aws` attempts as root on a host (Run Command, AWS-RunShellScript), one per case, and
   * records each one's exit code and output (stdout and stderr) under `<prefix>: <case>`.
   */
  const attemptOnHost = async (prefix: string, instanceId: string, attempts: Record<string, string>) => {
    const commands = Object.entries(attempts).flatMap(([name, command]) => [
      `echo "### ${name}"`,
      `${command} 2>&1; echo "### rc=$?"`,
    ]);
    const result = await runScript(admin().ssm, instanceId, ['set +e', ...commands]);
    const text = result.StandardOutputContent ?? '';
    for (const [name] of Object.entries(attempts)) {
      const start = text.indexOf(`### ${name}\n`);
      const rest = text.slice(start + `### ${name}\n`.length);
      const rcAt = rest.indexOf('### rc=');
      onHost[`${prefix}: ${name}`] = {
        out: rest.slice(0, rcAt),
        rc: Number(/### rc=(\d+)/.exec(rest.slice(rcAt))?.[1] ?? -1),
      };
    }
  };

  const waitForOnline = (instanceId: string) =>
    waitFor(
      async () => {
        const { InstanceInformationList = [] } = await admin().ssm.send(
          new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [instanceId] }] }),
        );
        return InstanceInformationList[0]?.PingStatus === 'Online';
      },
      { timeoutMs: 60_000, intervalMs: 200, what: `${instanceId} Online` },
    );

  /**
   * The host attempt `name` failed with `code` in the CLI's words; `guarded`: by the host guard's
   * explicit deny (what the managed policies alone would have allowed, or might if attached again).
   */
  const refusedOnHost = (name: string, code: string, operation: string, guarded: boolean) => {
    const attempt = onHost[name];
    expect(attempt).toBeDefined();
    expect([name, attempt!.rc]).toEqual([name, 254]);
    expect(attempt!.out).toContain(`An error occurred (${code}) when calling the ${operation} operation`);
    if (guarded) expect(attempt!.out).toContain('with an explicit deny in an identity-based policy');
  };

  const otherLab = labNames(B);
  const otherCode = otherLab.activationCodeParameter('Dev');
  const otherKey = otherLab.privateKeyParameter;
  const otherSecret = otherLab.passwordSecret;
  const lambdaGroup = '/aws/lambda/session-lab-create-key-pair';

  beforeAll(async () => {
    const runs = await Promise.all(
      [
        { labId: A, policyMode: 'strict' },
        { labId: B, policyMode: 'seed' },
      ].map((input) =>
        runLocally('provision-lab', {
          input,
          executionName: `${input.labId}-provision-1`,
          timeScale: SCALE,
        }),
      ),
    );
    for (const run of runs)
      expect([run.executionName, run.status, run.error ?? '']).toEqual([run.executionName, 'SUCCEEDED', '']);
    for (const labId of [A, B]) {
      hosts[labId] = await labHosts(labId);
      student[labId] = await clientsFor(labId);
    }
    expect(Object.values(hosts[A]!).every(Boolean) && Object.values(hosts[B]!).every(Boolean)).toBe(true);

    // The victim works in its lab: a session on its own Dev node, with a transcript.
    const { SessionId } = await student[B]!.ssm.send(new StartSessionCommand({ Target: hosts[B]!.devEc2 }));
    victimSession = SessionId!;
    await sessionInput(victimSession, 'echo victim-was-here');
    aSession = (await student[A]!.ssm.send(new StartSessionCommand({ Target: hosts[A]!.devEc2 }))).SessionId!;
    await sessionInput(aSession, 'echo sec-was-here');
    // A third lab's transcript stream in the same group, as its agent would have created it.
    await admin().logs.send(
      new CreateLogStreamCommand({ logGroupName: LOG_GROUP, logStreamName: THIRD_LAB_STREAM }),
    );

    // A node of no lab: an instance with the lab hosts' profile, tagged Dev, not session-lab's.
    const { Instances: launched } = await admin().ec2.send(
      new RunInstancesCommand({
        ImageId: 'ami-0080e4c5bc078760e',
        InstanceType: 't3.micro',
        MinCount: 1,
        MaxCount: 1,
        IamInstanceProfile: { Name: SHARED_NAMES.instanceProfile },
        MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Environment', Value: 'Dev' }] }],
      }),
    );
    nonLabNode = launched![0]!.InstanceId!;
    await waitForOnline(nonLabNode);

    // Root on lab A's hosts (and a host with lab A's bootstrap identity) tries the other lab.
    const hostAttempts = {
      'other lab activation code': `aws ssm get-parameter --name ${otherCode} --with-decryption`,
      'other lab private key': `aws ssm get-parameter --name ${otherKey} --with-decryption`,
      'parameter tree': 'aws ssm get-parameters-by-path --path /session-lab --recursive --with-decryption',
      'other student password': `aws secretsmanager get-secret-value --secret-id ${otherSecret}`,
      'shorten retention': `aws logs put-retention-policy --log-group-name ${LOG_GROUP} --retention-in-days 1`,
      'delete log group': `aws logs delete-log-group --log-group-name ${LOG_GROUP}`,
      'create log group': 'aws logs create-log-group --log-group-name /session-lab/forged',
      'read transcript': `aws logs get-log-events --log-group-name ${LOG_GROUP} --log-stream-name ${victimSession}`,
      'filter log group': `aws logs filter-log-events --log-group-name ${LOG_GROUP}`,
      'forge lambda log': `aws logs put-log-events --log-group-name ${lambdaGroup} --log-stream-name forged --log-events '[{"timestamp":1,"message":"x"}]'`,
      'preferences document': `aws ssm update-document --name ${SHARED_NAMES.preferencesDocument} --content '{}' --document-version '$LATEST'`,
      'advanced tier': `aws ssm update-service-setting --setting-id ${activationTierArn(TEST_REGION, ACCOUNT)} --setting-value standard`,
      'access key': `aws iam create-access-key --user-name ${otherLab.user}`,
      'terminate other host': `aws ec2 terminate-instances --instance-ids ${hosts[B]!.devEc2}`,
      'start session': `aws ssm start-session --target ${hosts[B]!.devEc2}`,
      'run command': `aws ssm send-command --document-name AWS-RunShellScript --instance-ids ${hosts[B]!.devEc2} --parameters commands=id`,
      'create activation': `aws ssm create-activation --iam-role ${SHARED_NAMES.serviceRole}`,
      // The shared session log group: sec's Dev hosts write their own lab's streams only.
      identity: 'aws sts get-caller-identity --query Arn --output text',
      'forge transcript of longer lab id': `aws logs put-log-events --log-group-name ${LOG_GROUP} --log-stream-name ${victimSession} --log-events '[{"timestamp":1,"message":"forged"}]'`,
      'create stream of longer lab id': `aws logs create-log-stream --log-group-name ${LOG_GROUP} --log-stream-name ${otherLab.user}-0f0r9e8d7c6b5a4f3`,
      'forge transcript of third lab': `aws logs put-log-events --log-group-name ${LOG_GROUP} --log-stream-name ${THIRD_LAB_STREAM} --log-events '[{"timestamp":1,"message":"forged"}]'`,
      'create stream of third lab': `aws logs create-log-stream --log-group-name ${LOG_GROUP} --log-stream-name ${labNames('other').user}-0f0r9e8d7c6b5a4f3`,
      'write own lab transcript': `aws logs put-log-events --log-group-name ${LOG_GROUP} --log-stream-name ${aSession} --log-events '[{"timestamp":1,"message":"own"}]'`,
      'list log streams': `aws logs describe-log-streams --log-group-name ${LOG_GROUP} --query 'logStreams[].logStreamName' --output text`,
    };
    await attemptOnHost('Dev EC2 host', hosts[A]!.devEc2, hostAttempts);
    await attemptOnHost('DevOnPrem node', hosts[A]!.devOnPrem, hostAttempts);

    // Lab A's bootstrap identity. Its host is terminated once registration is done
    // (close-bootstrap-access), so a host is launched with the lab's bootstrap profile, as
    // launch-instances does, and acts as the bootstrap host would while registering.
    const { Instances } = await admin().ec2.send(
      new RunInstancesCommand({
        ImageId: 'ami-0080e4c5bc078760e',
        InstanceType: 't3.micro',
        MinCount: 1,
        MaxCount: 1,
        IamInstanceProfile: { Name: labNames(A).bootstrapRole },
        MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
      }),
    );
    const bootstrap = Instances![0]!.InstanceId!;
    await waitForOnline(bootstrap);
    const own = labNames(A);
    // Registration verified, Close bootstrap access deleted the lab's activation codes; one is put
    // back, as it is while registration runs, to check what the bootstrap role may read then.
    codeAfterProvision = await admin()
      .ssm.send(new GetParameterCommand({ Name: own.activationCodeParameter('Dev') }))
      .then(
        () => 'found',
        (err: Error) => err.name,
      );
    await admin().ssm.send(
      new PutParameterCommand({
        Name: own.activationCodeParameter('Dev'),
        Value: 'stand-in-activation-code',
        Type: 'SecureString',
      }),
    );
    await attemptOnHost('bootstrap', bootstrap, {
      identity: 'aws sts get-caller-identity --query Arn --output text',
      'own activation code': `aws ssm get-parameter --name ${own.activationCodeParameter('Dev')} --with-decryption --query Parameter.Name --output text`,
      'other lab activation code': `aws ssm get-parameter --name ${otherCode} --with-decryption`,
      'other lab private key': `aws ssm get-parameter --name ${otherKey} --with-decryption`,
      'own parameter tree': `aws ssm get-parameters-by-path --path ${own.parameterPath} --recursive --with-decryption`,
      'other student password': `aws secretsmanager get-secret-value --secret-id ${otherSecret}`,
      'own student password': `aws secretsmanager get-secret-value --secret-id ${own.passwordSecret}`,
      'forge transcript': `aws logs put-log-events --log-group-name ${LOG_GROUP} --log-stream-name ${victimSession} --log-events '[{"timestamp":1,"message":"x"}]'`,
    });
    await admin().ec2.send(new TerminateInstancesCommand({ InstanceIds: [bootstrap] }));
  }, 300_000);

  describe('the workshop user of sec, with its own access keys', () => {
    const me = () => student[A]!;

    it("cannot read sec-01's activation code", () =>
      refused(
        me().ssm.send(new GetParameterCommand({ Name: otherCode, WithDecryption: true })),
        'AccessDeniedException',
        'ssm:GetParameter',
      ));

    it("cannot read sec-01's private key parameter", () =>
      refused(
        me().ssm.send(new GetParameterCommand({ Name: otherKey, WithDecryption: true })),
        'AccessDeniedException',
        'ssm:GetParameter',
      ));

    it('cannot read the /session-lab tree (GetParametersByPath)', async () => {
      for (const Path of ['/session-lab', '/'])
        await refused(
          me().ssm.send(new GetParametersByPathCommand({ Path, Recursive: true, WithDecryption: true })),
          'AccessDeniedException',
          'ssm:GetParametersByPath',
        );
    });

    it("cannot read sec-01's password secret", () =>
      refused(
        me().secrets.send(new GetSecretValueCommand({ SecretId: otherSecret })),
        'AccessDeniedException',
        'secretsmanager:GetSecretValue',
      ));

    it("cannot start a session on sec-01's Dev EC2 host or Dev hybrid node, nor on a node of no lab", async () => {
      for (const Target of [hosts[B]!.devEc2, hosts[B]!.devOnPrem, nonLabNode])
        await refused(
          me().ssm.send(new StartSessionCommand({ Target })),
          'AccessDeniedException',
          'ssm:StartSession',
        );
    });

    it("cannot end or resume sec-01's session, whose id starts with its own user name", async () => {
      expect(victimSession.startsWith(`${labNames(A).user}-`)).toBe(true);
      await refused(
        me().ssm.send(new TerminateSessionCommand({ SessionId: victimSession })),
        'AccessDeniedException',
        'ssm:TerminateSession',
      );
      await refused(
        me().ssm.send(new ResumeSessionCommand({ SessionId: victimSession })),
        'AccessDeniedException',
        'ssm:ResumeSession',
      );
    });

    it("cannot read sec-01's transcript stream, nor search the log group", async () => {
      await refused(
        me().logs.send(new GetLogEventsCommand({ logGroupName: LOG_GROUP, logStreamName: victimSession })),
        'AccessDeniedException',
        'logs:GetLogEvents',
      );
      await refused(
        me().logs.send(new FilterLogEventsCommand({ logGroupName: LOG_GROUP })),
        'AccessDeniedException',
        'logs:FilterLogEvents',
      );
    });

    it('cannot change the log group, the preferences document or the advanced tier', async () => {
      await refused(
        me().logs.send(new PutRetentionPolicyCommand({ logGroupName: LOG_GROUP, retentionInDays: 1 })),
        'AccessDeniedException',
        'logs:PutRetentionPolicy',
      );
      await refused(
        me().logs.send(new DeleteLogGroupCommand({ logGroupName: LOG_GROUP })),
        'AccessDeniedException',
        'logs:DeleteLogGroup',
      );
      await refused(
        me().ssm.send(
          new UpdateDocumentCommand({
            Name: SHARED_NAMES.preferencesDocument,
            Content: '{}',
            DocumentVersion: '$LATEST',
          }),
        ),
        'AccessDeniedException',
        'ssm:UpdateDocument',
      );
      await refused(
        me().ssm.send(
          new UpdateServiceSettingCommand({
            SettingId: activationTierArn(TEST_REGION, ACCOUNT),
            SettingValue: 'standard',
          }),
        ),
        'AccessDeniedException',
        'ssm:UpdateServiceSetting',
      );
    });

    it("cannot create an access key for sec-01's user", () =>
      refused(
        me().iam.send(new CreateAccessKeyCommand({ UserName: labNames(B).user })),
        'AccessDenied',
        'iam:CreateAccessKey',
      ));

    it("cannot terminate sec-01's hosts or launch instances", async () => {
      await refused(
        me().ec2.send(new TerminateInstancesCommand({ InstanceIds: [hosts[B]!.devEc2] })),
        'UnauthorizedOperation',
      );
      await refused(
        me().ec2.send(
          new RunInstancesCommand({
            ImageId: 'ami-0080e4c5bc078760e',
            InstanceType: 't3.micro',
            MinCount: 1,
            MaxCount: 1,
          }),
        ),
        'UnauthorizedOperation',
      );
    });

    it('cannot create an activation (its own nodes into any lab)', () =>
      refused(
        me().ssm.send(new CreateActivationCommand({ IamRole: SHARED_NAMES.serviceRole })),
        'AccessDeniedException',
        'ssm:CreateActivation',
      ));

    it("cannot list the account's activations", () =>
      refused(
        me().ssm.send(new DescribeActivationsCommand({})),
        'AccessDeniedException',
        'ssm:DescribeActivations',
      ));
  });

  describe('the seed exercises still work for the workshop user of sec', () => {
    const me = () => student[A]!;

    it('starts a session on its own Dev EC2 host and Dev hybrid node, not on its Prod ones', async () => {
      for (const Target of [hosts[A]!.devOnPrem, hosts[A]!.devEc2]) {
        const { SessionId } = await me().ssm.send(new StartSessionCommand({ Target }));
        expect((await sessionInput(SessionId!, 'echo mine')).stdout).toBe('mine\n');
        ownSession = SessionId!;
        if (Target === hosts[A]!.devOnPrem) await me().ssm.send(new TerminateSessionCommand({ SessionId }));
      }
      for (const Target of [hosts[A]!.prodEc2, hosts[A]!.prodOnPrem])
        await refused(
          me().ssm.send(new StartSessionCommand({ Target })),
          'AccessDeniedException',
          'ssm:StartSession',
        );
    });

    it('ends its own session and reads its own session history', async () => {
      await me().ssm.send(new TerminateSessionCommand({ SessionId: ownSession }));
      const { Sessions = [] } = await me().ssm.send(new DescribeSessionsCommand({ State: 'History' }));
      expect(Sessions.map((s) => s.SessionId)).toContain(ownSession);
    });

    it('reads its own transcript', async () => {
      let messages: string[] = [];
      await waitFor(
        async () => {
          try {
            const { events = [] } = await me().logs.send(
              new GetLogEventsCommand({
                logGroupName: LOG_GROUP,
                logStreamName: ownSession,
                startFromHead: true,
              }),
            );
            messages = events.map((e) => e.message!);
            return messages.length > 0;
          } catch (err) {
            if ((err as Error).name === 'ResourceNotFoundException') return false;
            throw err;
          }
        },
        { timeoutMs: 20_000, intervalMs: 100, what: 'the own transcript' },
      );
      expect(messages.join('\n')).toContain('echo mine');
    });
  });

  describe('the workshop user of sec-01, in seed mode (the seed policy scoped to its lab)', () => {
    const me = () => student[B]!;
    const labA = labNames(A);

    it("cannot read sec's activation code, nor the /session-lab tree (the seed's ssm:Get*)", async () => {
      await refused(
        me().ssm.send(
          new GetParameterCommand({ Name: labA.activationCodeParameter('Dev'), WithDecryption: true }),
        ),
        'AccessDeniedException',
        'ssm:GetParameter',
      );
      await refused(
        me().ssm.send(new GetParametersByPathCommand({ Path: '/session-lab', Recursive: true })),
        'AccessDeniedException',
        'ssm:GetParametersByPath',
      );
    });

    it("cannot read sec's password secret", () =>
      refused(
        me().secrets.send(new GetSecretValueCommand({ SecretId: labA.passwordSecret })),
        'AccessDeniedException',
        'secretsmanager:GetSecretValue',
      ));

    it("cannot start a session on sec's Dev nodes nor on a node of no lab (the seed allowed *)", async () => {
      for (const Target of [hosts[A]!.devEc2, hosts[A]!.devOnPrem, nonLabNode])
        await refused(
          me().ssm.send(new StartSessionCommand({ Target })),
          'AccessDeniedException',
          'ssm:StartSession',
        );
    });

    it("cannot end or resume sec's running session, nor read its transcript", async () => {
      await refused(
        me().ssm.send(new TerminateSessionCommand({ SessionId: aSession })),
        'AccessDeniedException',
        'ssm:TerminateSession',
      );
      await refused(
        me().ssm.send(new ResumeSessionCommand({ SessionId: aSession })),
        'AccessDeniedException',
        'ssm:ResumeSession',
      );
      await refused(
        me().logs.send(new GetLogEventsCommand({ logGroupName: LOG_GROUP, logStreamName: aSession })),
        'AccessDeniedException',
        'logs:GetLogEvents',
      );
    });

    it("cannot list the account's activations", () =>
      refused(
        me().ssm.send(new DescribeActivationsCommand({})),
        'AccessDeniedException',
        'ssm:DescribeActivations',
      ));

    it("keeps the seed's gap for teaching: its own Prod hybrid node is reachable, its Prod EC2 instance is not", async () => {
      const { SessionId } = await me().ssm.send(new StartSessionCommand({ Target: hosts[B]!.prodOnPrem }));
      expect((await sessionInput(SessionId!, 'echo gap')).stdout).toBe('gap\n');
      await me().ssm.send(new TerminateSessionCommand({ SessionId }));
      await refused(
        me().ssm.send(new StartSessionCommand({ Target: hosts[B]!.prodEc2 })),
        'AccessDeniedException',
        'ssm:StartSession',
      );
    });
  });

  describe("sec's bootstrap identity (SessionLabBootstrap-sec)", () => {
    it("is the lab's own role, and reads its own lab's activation code (while there is one)", () => {
      expect(codeAfterProvision).toBe('ParameterNotFound');
      expect(onHost['bootstrap: identity']).toEqual({
        rc: 0,
        out: expect.stringContaining(`:assumed-role/${labNames(A).bootstrapRole}/i-`),
      });
      expect(onHost['bootstrap: own activation code']).toEqual({
        rc: 0,
        out: `${labNames(A).activationCodeParameter('Dev')}\n`,
      });
    });

    it.each([
      ['other lab activation code', 'AccessDeniedException', 'GetParameter'],
      ['other lab private key', 'AccessDeniedException', 'GetParameter'],
      ['own parameter tree', 'AccessDeniedException', 'GetParametersByPath'],
      ['other student password', 'AccessDeniedException', 'GetSecretValue'],
      ['own student password', 'AccessDeniedException', 'GetSecretValue'],
      ['forge transcript', 'AccessDeniedException', 'PutLogEvents'],
    ])('is refused: %s (%s)', (name, code, operation) =>
      refusedOnHost(`bootstrap: ${name}`, code, operation, true),
    );
  });

  describe.each([
    ['Dev EC2 host', labNames(A).devHostRole],
    ['DevOnPrem node', labNames(A).devNodeRole],
  ])("root on sec's %s (%s, the lab's own role)", (host, role) => {
    it("holds its lab's own role, not the shared one the Prod hosts keep", () => {
      expect(onHost[`${host}: identity`]).toEqual({
        rc: 0,
        out: expect.stringMatching(new RegExp(`:assumed-role/${role}/(i|mi)-[0-9a-f]+\n$`)),
      });
    });

    it("cannot write sec-01's transcripts, nor create streams named after its sessions (one more hyphen: denied outright)", () => {
      refusedOnHost(
        `${host}: forge transcript of longer lab id`,
        'AccessDeniedException',
        'PutLogEvents',
        true,
      );
      refusedOnHost(
        `${host}: create stream of longer lab id`,
        'AccessDeniedException',
        'CreateLogStream',
        true,
      );
    });

    it("cannot write another lab's transcripts, nor create streams named after its sessions", () => {
      for (const [name, operation] of [
        ['forge transcript of third lab', 'PutLogEvents'],
        ['create stream of third lab', 'CreateLogStream'],
      ])
        refusedOnHost(`${host}: ${name}`, 'AccessDeniedException', operation!, false);
    });

    it("writes its own lab's session streams (what its agent does)", () => {
      expect(onHost[`${host}: write own lab transcript`]).toMatchObject({ rc: 0 });
    });

    it('still lists the names of every stream of the shared group (DescribeLogStreams is authorized on the group; left open)', () => {
      expect(onHost[`${host}: list log streams`]).toMatchObject({ rc: 0 });
      expect(onHost[`${host}: list log streams`]!.out).toContain(victimSession);
    });

    it.each([
      ['other lab activation code', 'AccessDeniedException', 'GetParameter', true],
      ['other lab private key', 'AccessDeniedException', 'GetParameter', true],
      ['parameter tree', 'AccessDeniedException', 'GetParametersByPath', true],
      ['other student password', 'AccessDeniedException', 'GetSecretValue', true],
      ['shorten retention', 'AccessDeniedException', 'PutRetentionPolicy', true],
      ['delete log group', 'AccessDeniedException', 'DeleteLogGroup', true],
      ['create log group', 'AccessDeniedException', 'CreateLogGroup', true],
      ['read transcript', 'AccessDeniedException', 'GetLogEvents', true],
      ['filter log group', 'AccessDeniedException', 'FilterLogEvents', true],
      ['forge lambda log', 'AccessDeniedException', 'PutLogEvents', false],
      ['preferences document', 'AccessDeniedException', 'UpdateDocument', false],
      ['advanced tier', 'AccessDeniedException', 'UpdateServiceSetting', false],
      ['access key', 'AccessDenied', 'CreateAccessKey', false],
      ['terminate other host', 'UnauthorizedOperation', 'TerminateInstances', false],
      ['start session', 'AccessDeniedException', 'StartSession', false],
      ['run command', 'AccessDeniedException', 'SendCommand', false],
      ['create activation', 'AccessDeniedException', 'CreateActivation', false],
    ] as [string, string, string, boolean][])('is refused: %s (%s)', (name, code, operation, guarded) =>
      refusedOnHost(`${host}: ${name}`, code, operation, guarded),
    );
  });

  it("tears both labs down, the bootstrap identities and the Dev hosts' own roles with them", async () => {
    for (const labId of [A, B]) {
      const run = await runLocally('teardown-lab', {
        input: { labId },
        executionName: `${labId}-teardown-1`,
        timeScale: SCALE,
      });
      expect([labId, run.status, run.error ?? '']).toEqual([labId, 'SUCCEEDED', '']);
      const names = labNames(labId);
      for (const RoleName of [names.bootstrapRole, names.devHostRole, names.devNodeRole])
        await expect(admin().iam.send(new GetRoleCommand({ RoleName }))).rejects.toMatchObject({
          name: 'NoSuchEntityException',
        });
      await expect(
        admin().iam.send(new GetInstanceProfileCommand({ InstanceProfileName: names.devHostRole })),
      ).rejects.toMatchObject({ name: 'NoSuchEntityException' });
    }
  }, 300_000);
});
