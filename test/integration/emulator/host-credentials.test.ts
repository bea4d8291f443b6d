import { GetLogEventsCommand, DescribeLogStreamsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { RunInstancesCommand } from '@aws-sdk/client-ec2';
import { AttachRolePolicyCommand, CreateAccessKeyCommand, CreateRoleCommand } from '@aws-sdk/client-iam';
import { CreateBucketCommand, PutBucketEncryptionCommand } from '@aws-sdk/client-s3';
import {
  CreateDocumentCommand,
  DescribeInstanceInformationCommand,
  DescribeSessionsCommand,
  ResetServiceSettingCommand,
  SSMClient,
  StartSessionCommand,
  TerminateSessionCommand,
  UpdateServiceSettingCommand,
} from '@aws-sdk/client-ssm';
import { configureSessionLogging } from '../../../functions/configure-session-logging/task.js';
import { createActivations } from '../../../functions/create-activations/task.js';
import { createInstanceRole } from '../../../functions/create-instance-role/task.js';
import { createKeyPair } from '../../../functions/create-key-pair/task.js';
import { createNetwork } from '../../../functions/create-network/task.js';
import { createServiceRole } from '../../../functions/create-service-role/task.js';
import { createWorkshopUser } from '../../../functions/create-workshop-user/task.js';
import { enableAdvancedTier } from '../../../functions/enable-advanced-tier/task.js';
import { launchInstances } from '../../../functions/launch-instances/task.js';
import { registerAgents } from '../../../functions/register-agents/task.js';
import { labClients, type LabClients } from '../../../functions/shared/clients.js';
import { labConfigSchema, type LabConfig } from '../../../functions/shared/lab-config.js';
import type { LabInstance, LabNode } from '../../../functions/shared/lab-state.js';
import { labNames } from '../../../functions/shared/names.js';
import {
  removeSessionLoggingPolicy,
  sessionLoggingPolicyName,
} from '../../../functions/shared/session-logging.js';
import { waitForAdvancedTier } from '../../../functions/wait-for-advanced-tier/task.js';
import { waitForInstances } from '../../../functions/wait-for-instances/task.js';
import { waitForRegistration } from '../../../functions/wait-for-registration/task.js';
import { waitFor } from '../../../local/emulator/net.js';
import { TEST_REGION, useEmulator } from '../../helpers/emulator.js';
import { polling, retrying } from '../../helpers/lab-builder.js';

const ACCOUNT = '123456789012';
const DHMC_SETTING = `arn:aws:ssm:${TEST_REGION}:${ACCOUNT}:servicesetting/ssm/managed-instance/default-ec2-instance-management-role`;

/**
 * The lab's hosts act with their own credentials, as on AWS: the EC2 hosts with the session of
 * their instance profile's role (the Prod host's shared SSMLabRole, the Dev host's own
 * SessionLabDevHost-<labId>), the hybrid nodes with the session Systems Manager issues them for
 * their activation's role (Prod: SSMServiceRole, Dev: SessionLabDevNode-<labId>; the agent shares
 * it with root), each authorized by the emulator's full evaluator. The lab is provisioned by the
 * product's own tasks (the registration script runs for real on the bootstrap host, its
 * `aws ssm get-parameter` as its own SessionLabBootstrap-<labId>); the session logging grants are
 * configure-session-logging's and the Dev roles' own.
 */
describe('lab hosts with their own role sessions', () => {
  // 0.05: a 40 s boot takes 2 s, the registration script's processes have room on a busy machine.
  // The stack first: the bootstrap role launch-instances creates is bounded by one of its resources.
  const emulator = useEmulator({ time: { scale: 0.05 }, deployStack: true });
  let clients: LabClients;
  let lab: LabConfig;
  let instances: LabInstance[];
  let nodes: LabNode[];
  /** SSM as the lab's workshop user (its own access keys). */
  let student: SSMClient;
  /** The four lab hosts' node ids by role. */
  const target: Record<'DevEC2Instance' | 'ProdEC2Instance' | 'DevOnPrem' | 'ProdOnPrem', string> = {
    DevEC2Instance: '',
    ProdEC2Instance: '',
    DevOnPrem: '',
    ProdOnPrem: '',
  };

  const sessionInput = async (sessionId: string, command: string) => {
    const res = await fetch(`${emulator().url}/__emulator/session-input`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sessionId, command }),
    });
    return (await res.json()) as { exitCode: number; stdout: string; stderr: string };
  };

  /** A shell on the node (a session as the lab's admin), one command, ended. */
  const onNode = async (nodeId: string, command: string) => {
    const { SessionId } = await clients.ssm.send(new StartSessionCommand({ Target: nodeId }));
    try {
      return await sessionInput(SessionId!, command);
    } finally {
      await clients.ssm.send(new TerminateSessionCommand({ SessionId }));
    }
  };

  const sessionOf = async (SessionId: string) =>
    (
      await clients.ssm.send(
        new DescribeSessionsCommand({ State: 'History', Filters: [{ key: 'SessionId', value: SessionId }] }),
      )
    ).Sessions?.[0] ??
    (
      await clients.ssm.send(
        new DescribeSessionsCommand({ State: 'Active', Filters: [{ key: 'SessionId', value: SessionId }] }),
      )
    ).Sessions?.[0];

  const transcript = async (logGroupName: string, logStreamName: string) => {
    let messages: string[] = [];
    await waitFor(
      async () => {
        try {
          const { events = [] } = await clients.logs.send(
            new GetLogEventsCommand({ logGroupName, logStreamName, startFromHead: true }),
          );
          messages = events.map((e) => e.message!);
          return messages.length > 0;
        } catch (err) {
          if ((err as Error).name === 'ResourceNotFoundException') return false;
          throw err;
        }
      },
      { timeoutMs: 20_000, intervalMs: 100, what: `the transcript ${logStreamName}` },
    );
    return messages;
  };

  beforeAll(async () => {
    clients = labClients();
    lab = labConfigSchema.parse({ labId: 'hosts', runId: 'provision-hosts-1' });
    const { instanceProfileName } = await retrying(() => createInstanceRole({}, clients));
    const { serviceRoleName } = await retrying(() => createServiceRole({}, clients));
    const { activations } = await retrying(() => createActivations({ lab, serviceRoleName }, clients));
    const key = await retrying(() => createKeyPair({ lab }, clients));
    const network = await retrying(() => createNetwork({ lab }, clients));
    ({ instances } = await retrying(() =>
      launchInstances({ lab, instanceProfileName, keyName: key.keyName, network }, clients),
    ));
    await retrying(() => enableAdvancedTier({}, clients));
    await polling(() => waitForInstances({ lab, instances }, clients), 'the lab hosts');
    const registerInput = { lab, instances, activations, privateKeyParameter: key.privateKeyParameter };
    const registration = await retrying(() => registerAgents(registerInput, clients));
    const registered = await polling(
      () =>
        waitForRegistration(
          {
            lab,
            commandId: registration.commandId,
            bootstrapInstanceId: registration.bootstrapInstanceId,
            instances,
          },
          clients,
        ),
      'the hybrid nodes',
    );
    nodes = registered.nodes;
    await polling(() => waitForAdvancedTier({}, clients), 'the advanced tier');
    await retrying(() => configureSessionLogging({ lab }, clients));
    // The student: the lab's workshop user, with access keys of its own.
    const user = await retrying(() => createWorkshopUser({ lab }, clients));
    const { AccessKey } = await clients.iam.send(new CreateAccessKeyCommand({ UserName: user.userName }));
    student = new SSMClient({
      region: TEST_REGION,
      endpoint: emulator().url,
      credentials: { accessKeyId: AccessKey!.AccessKeyId!, secretAccessKey: AccessKey!.SecretAccessKey! },
    });
    for (const instance of instances) {
      if (instance.role === 'DevEC2Instance' || instance.role === 'ProdEC2Instance')
        target[instance.role] = instance.instanceId;
    }
    for (const node of nodes) {
      if (node.role === 'DevOnPrem' || node.role === 'ProdOnPrem') target[node.role] = node.managedInstanceId;
    }
  }, 240_000);

  it('logs a session on each of the four lab hosts to the lab log group, as the node', async () => {
    for (const [role, nodeId] of Object.entries(target)) {
      // The student's own sessions on the Dev hosts; an operator's on the Prod hosts, which the
      // workshop user's policy denies.
      const starter = role.startsWith('Dev') ? student : clients.ssm;
      const { SessionId } = await starter.send(new StartSessionCommand({ Target: nodeId }));
      if (role.startsWith('Dev')) expect(SessionId).toMatch(/^MyWorkshopUser-hosts-/);
      expect(await sessionInput(SessionId!, `echo "on ${role}"`)).toMatchObject({ stdout: `on ${role}\n` });
      await clients.ssm.send(new TerminateSessionCommand({ SessionId }));
      // The lab streams JSON records (cloudWatchStreamingEnabled by default).
      const [record] = (await transcript(lab.logGroupName, SessionId!)).map((m) => JSON.parse(m));
      expect(record).toMatchObject({
        target: { id: nodeId },
        sessionId: SessionId,
        sessionData: [`sh-5.2$ echo "on ${role}"`, `on ${role}`],
      });
    }
  });

  it("runs `aws` on a Dev EC2 host as its lab's own role (SessionLabDevHost-<labId>), refused what the role does not grant", async () => {
    const instanceId = target.DevEC2Instance;
    const who = await onNode(instanceId, 'aws sts get-caller-identity --query Arn --output text');
    expect(who).toMatchObject({
      exitCode: 0,
      stdout: `arn:aws:sts::${ACCOUNT}:assumed-role/${labNames('hosts').devHostRole}/${instanceId}\n`,
    });
    // root (sudo) finds the same instance profile credentials.
    const asRoot = await onNode(instanceId, 'sudo aws sts get-caller-identity --output json');
    expect(JSON.parse(asRoot.stdout)).toMatchObject({
      Account: ACCOUNT,
      Arn: `arn:aws:sts::${ACCOUNT}:assumed-role/${labNames('hosts').devHostRole}/${instanceId}`,
    });
    const denied = await onNode(instanceId, 'sudo aws secretsmanager get-secret-value --secret-id anything');
    expect(denied.exitCode).toBe(254);
    expect(denied.stderr).toContain(
      `An error occurred (AccessDeniedException) when calling the GetSecretValue operation: User: arn:aws:sts::${ACCOUNT}:assumed-role/${labNames('hosts').devHostRole}/${instanceId} is not authorized to perform: secretsmanager:GetSecretValue`,
    );
    // What the role grants works, any service the lab touches (the logging grant: its own group).
    const streams = await onNode(
      instanceId,
      `aws logs describe-log-streams --log-group-name ${lab.logGroupName} --query 'logStreams[0].logGroupName' --output text`,
    );
    expect(streams).toMatchObject({ exitCode: 0 });
    const other = await onNode(
      instanceId,
      'aws logs describe-log-streams --log-group-name /session-lab/encrypted',
    );
    expect(other.stderr).toContain('(AccessDeniedException) when calling the DescribeLogStreams operation');
  });

  it("runs `aws` as root on a Dev hybrid node as its lab's own role (SessionLabDevNode-<labId>; the agent shares its credentials with root only)", async () => {
    const nodeId = target.DevOnPrem;
    const asRoot = await onNode(nodeId, 'sudo aws sts get-caller-identity --query Arn --output text');
    expect(asRoot).toMatchObject({
      exitCode: 0,
      stdout: `arn:aws:sts::${ACCOUNT}:assumed-role/${labNames('hosts').devNodeRole}/${nodeId}\n`,
    });
    // ssm-user has no credentials file, and the host (an EC2 instance without a profile) no IMDS role.
    const asUser = await onNode(nodeId, 'aws sts get-caller-identity');
    expect(asUser.exitCode).toBe(253);
    expect(asUser.stderr).toContain('Unable to locate credentials');
    // The environment comes first, as for the real CLI.
    const withEnv = await onNode(
      nodeId,
      'AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing aws sts get-caller-identity --query Arn --output text',
    );
    expect(withEnv.stdout).toBe(`arn:aws:iam::${ACCOUNT}:root\n`);
  });

  it('DHMC makes EC2 instances without a profile managed nodes; registered ones stay mi- nodes', async () => {
    const onPremHosts = instances.filter((i) => i.kind === 'onprem').map((i) => i.instanceId);
    const describe = async (ids: string[]) =>
      (
        await clients.ssm.send(
          new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: ids }] }),
        )
      ).InstanceInformationList ?? [];
    expect(await describe(onPremHosts)).toEqual([]);

    await clients.iam.send(
      new CreateRoleCommand({
        RoleName: 'AWSSystemsManagerDefaultEC2InstanceManagementRole',
        Path: '/service-role/',
        AssumeRolePolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Principal: { Service: 'ssm.amazonaws.com' }, Action: 'sts:AssumeRole' },
          ],
        }),
      }),
    );
    // AWS attaches AmazonSSMManagedEC2InstanceDefaultPolicy; its ssm:UpdateInstanceInformation grant
    // is what matters here, which AmazonSSMManagedInstanceCore holds too.
    await clients.iam.send(
      new AttachRolePolicyCommand({
        RoleName: 'AWSSystemsManagerDefaultEC2InstanceManagementRole',
        PolicyArn: 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore',
      }),
    );
    await clients.ssm.send(
      new UpdateServiceSettingCommand({
        SettingId: DHMC_SETTING,
        SettingValue: 'service-role/AWSSystemsManagerDefaultEC2InstanceManagementRole',
      }),
    );
    try {
      const launch = async (HttpTokens: 'required' | 'optional') =>
        (
          await clients.ec2.send(
            new RunInstancesCommand({
              ImageId: 'ami-0080e4c5bc078760e',
              InstanceType: 't3.micro',
              MinCount: 1,
              MaxCount: 1,
              MetadataOptions: { HttpTokens, HttpEndpoint: 'enabled' },
            }),
          )
        ).Instances![0]!.InstanceId!;
      const imdsV2 = await launch('required');
      const imdsV1 = await launch('optional');
      await waitFor(async () => (await describe([imdsV2])).some((n) => n.PingStatus === 'Online'), {
        timeoutMs: 30_000,
        intervalMs: 100,
        what: 'the DHMC node',
      });
      expect((await describe([imdsV2]))[0]).toMatchObject({
        ResourceType: 'EC2Instance',
        IamRole: 'AWSSystemsManagerDefaultEC2InstanceManagementRole',
      });
      // DHMC needs IMDSv2.
      expect(await describe([imdsV1])).toEqual([]);
      // The lab's "on-premises" hosts (no profile, IMDSv2) now show as i- nodes too, ConnectionLost:
      // their agents speak as their mi- nodes (OnPrem comes first), which stay Online.
      const records = await describe(onPremHosts);
      expect(records.map((r) => [r.InstanceId, r.PingStatus]).sort()).toEqual(
        onPremHosts.map((id) => [id, 'ConnectionLost']).sort(),
      );
      const hybrid = await describe([target.DevOnPrem, target.ProdOnPrem]);
      expect(hybrid.map((n) => n.PingStatus)).toEqual(['Online', 'Online']);
      // The DHMC node's credentials are the agent's, not the CLI's: no profile, nothing from IMDS.
      const cli = await onNode(imdsV2, 'sudo aws sts get-caller-identity');
      expect(cli.stderr).toContain('Unable to locate credentials');
    } finally {
      await clients.ssm.send(new ResetServiceSettingCommand({ SettingId: DHMC_SETTING }));
    }
    expect(await describe(onPremHosts)).toEqual([]);
  });

  it("checks an s3BucketName bucket's encryption as the node, under the grant limited to the account's buckets", async () => {
    // Created as the admin (S3 requests reach moto unparsed), encrypted like any new bucket on AWS.
    const Bucket = 'session-lab-hosts-transcripts';
    await clients.s3.send(new CreateBucketCommand({ Bucket }));
    await clients.s3.send(
      new PutBucketEncryptionCommand({
        Bucket,
        ServerSideEncryptionConfiguration: {
          Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
      }),
    );
    const withBucket = labConfigSchema.parse({
      labId: 'hosts',
      runId: 'provision-hosts-bucket',
      s3BucketName: Bucket,
    });
    await retrying(() => configureSessionLogging({ lab: withBucket }, clients));
    // s3EncryptionEnabled: the agent's GetBucketEncryption as the Dev host's role must be allowed, and the
    // grant holds only with s3:ResourceAccount the account, which the request carries.
    const { SessionId } = await clients.ssm.send(new StartSessionCommand({ Target: target.DevEC2Instance }));
    const session = await sessionOf(SessionId!);
    expect(session?.Details ?? '').not.toContain('unable to validate encryption');
    expect(session?.Status).toBe('Connected');
    await clients.ssm.send(new TerminateSessionCommand({ SessionId }));
  });

  // Last: it leaves the account's preferences on its encrypted group.
  it('logs to a KMS-encrypted group (logKmsKeyArn) on every host, encryption required', async () => {
    const encrypted = labConfigSchema.parse({
      labId: 'hosts',
      runId: 'provision-hosts-2',
      logGroupName: '/session-lab/encrypted',
      logKmsKeyArn: `arn:aws:kms:${TEST_REGION}:${ACCOUNT}:key/0e5e9c1e-2c3b-4d53-9a3a-5c6b7d8e9f00`,
    });
    await retrying(() => configureSessionLogging({ lab: encrypted }, clients));
    for (const [role, nodeId] of Object.entries(target)) {
      const starter = role.startsWith('Dev') ? student : clients.ssm;
      const { SessionId } = await starter.send(new StartSessionCommand({ Target: nodeId }));
      expect((await sessionOf(SessionId!))?.Status).toBe('Connected');
      await sessionInput(SessionId!, 'whoami');
      await clients.ssm.send(new TerminateSessionCommand({ SessionId }));
      const [record] = (await transcript('/session-lab/encrypted', SessionId!)).map((m) => JSON.parse(m));
      expect(record).toMatchObject({ target: { id: nodeId }, sessionData: ['sh-5.2$ whoami', 'ssm-user'] });
    }

    // The Prod nodes cannot verify the group (both shared roles lost the grant; SSMServiceRole no
    // longer holds CloudWatchAgentServerPolicy): with encryption required their agents refuse the
    // session. (The Dev hosts' own roles keep their lab's policy: release never touches it.)
    await removeSessionLoggingPolicy(clients.iam, sessionLoggingPolicyName(TEST_REGION));
    for (const nodeId of [target.ProdEC2Instance, target.ProdOnPrem]) {
      const refused = await clients.ssm.send(new StartSessionCommand({ Target: nodeId }));
      const failed = await sessionOf(refused.SessionId!);
      expect(failed).toMatchObject({ Status: 'Failed' });
      expect(failed!.Details).toContain(
        "We couldn't start the session because encryption is not set up on the selected CloudWatch Logs log group.",
      );
    }
    // Without encryption the agent only warns: the session runs, unlogged.
    await clients.ssm.send(
      new CreateDocumentCommand({
        Name: 'Hosts-UnencryptedShell',
        DocumentType: 'Session',
        DocumentFormat: 'JSON',
        Content: JSON.stringify({
          schemaVersion: '1.0',
          sessionType: 'Standard_Stream',
          inputs: {
            cloudWatchLogGroupName: '/session-lab/encrypted',
            cloudWatchEncryptionEnabled: false,
            cloudWatchStreamingEnabled: true,
          },
        }),
      }),
    );
    const { SessionId } = await clients.ssm.send(
      new StartSessionCommand({ Target: target.ProdEC2Instance, DocumentName: 'Hosts-UnencryptedShell' }),
    );
    expect((await sessionInput(SessionId!, 'whoami')).stdout).toBe('ssm-user\n');
    await clients.ssm.send(new TerminateSessionCommand({ SessionId }));
    const { logStreams = [] } = await clients.logs.send(
      new DescribeLogStreamsCommand({ logGroupName: '/session-lab/encrypted' }),
    );
    expect(logStreams.map((s) => s.logStreamName)).not.toContain(SessionId);
  });
});
