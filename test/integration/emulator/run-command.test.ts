import { existsSync } from 'node:fs';
import { StopInstancesCommand } from '@aws-sdk/client-ec2';
import { PutRolePolicyCommand } from '@aws-sdk/client-iam';
import {
  GetCommandInvocationCommand,
  ListCommandInvocationsCommand,
  ListCommandsCommand,
  PutParameterCommand,
  SendCommandCommand,
} from '@aws-sdk/client-ssm';
import { waitFor } from '../../../local/emulator/net.js';
import { useEmulator } from '../../helpers/emulator.js';
import {
  SSM_CORE,
  fleetClients,
  instanceProfile,
  launch,
  runScript,
  securityGroup,
  waitForPing,
} from '../../helpers/fleet.js';

describe('emulator: Run Command executes AWS-RunShellScript for real', () => {
  // Invocations become visible after 300 ms; scripts may run up to a minute.
  const emulator = useEmulator({
    time: { scale: 0.01, ec2BootSeconds: 10, invocationVisibleSeconds: 30, commandTimeoutSeconds: 60 },
  });
  const clients = () => fleetClients(emulator());
  let node: string;
  let narrowNode: string;
  let plainHost: string;

  beforeAll(async () => {
    const { iam, ec2, ssm } = clients();
    await instanceProfile(iam, 'Bootstrap', [SSM_CORE]);
    // Enough to be a managed node, not enough to read parameters.
    await instanceProfile(iam, 'AgentOnly', []);
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: 'AgentOnly',
        PolicyName: 'agent',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 'ssm:UpdateInstanceInformation', Resource: '*' }],
        }),
      }),
    );
    const group = await securityGroup(ec2, 'run-command');
    node = (await launch(ec2, { profile: 'Bootstrap', groups: [group] })).InstanceId!;
    narrowNode = (await launch(ec2, { profile: 'AgentOnly', groups: [group] })).InstanceId!;
    plainHost = (await launch(ec2, { groups: [group] })).InstanceId!;
    await waitForPing(ssm, node);
    await waitForPing(ssm, narrowNode);
    await ssm.send(
      new PutParameterCommand({ Name: '/lab/secret', Type: 'SecureString', Value: 's3cr3t value' }),
    );
  });

  it('runs the commands joined by newlines as root on the node and reports stdout', async () => {
    const { ssm } = clients();
    const result = await runScript(ssm, node, [
      'GREETING=hello',
      'echo "$GREETING from $SESSION_LAB_HOST_INSTANCE_ID as $(whoami)"',
    ]);
    expect(result).toMatchObject({
      Status: 'Success',
      StatusDetails: 'Success',
      ResponseCode: 0,
      StandardOutputContent: `hello from ${node} as root\n`,
      StandardErrorContent: '',
      PluginName: 'aws:runShellScript',
    });
  });

  it('reports a failing script as Failed with its exit code and stderr', async () => {
    const { ssm } = clients();
    const result = await runScript(ssm, node, ['echo partial', 'echo "it broke" >&2', 'exit 3']);
    expect(result).toMatchObject({
      Status: 'Failed',
      ResponseCode: 3,
      StandardOutputContent: 'partial\n',
      StandardErrorContent: 'it broke\n',
    });
  });

  it('answers InvocationDoesNotExist at first, then InProgress while the script runs', async () => {
    const { ssm } = clients();
    const { Command } = await ssm.send(
      new SendCommandCommand({
        DocumentName: 'AWS-RunShellScript',
        InstanceIds: [node],
        Parameters: { commands: ['sleep 1', 'echo done'] },
      }),
    );
    expect(Command).toMatchObject({
      DocumentName: 'AWS-RunShellScript',
      InstanceIds: [node],
      Parameters: { commands: ['sleep 1', 'echo done'] },
    });
    const get = () =>
      ssm.send(new GetCommandInvocationCommand({ CommandId: Command!.CommandId, InstanceId: node }));
    await expect(get()).rejects.toMatchObject({ name: 'InvocationDoesNotExist' });
    let seen: string | undefined;
    await waitFor(
      async () => {
        seen = await get().then(
          (r) => r.Status,
          () => undefined,
        );
        return seen !== undefined;
      },
      { timeoutMs: 5000, intervalMs: 20, what: 'the invocation to appear' },
    );
    expect(seen).toBe('InProgress');
    const running = await get();
    expect(running).toMatchObject({ ResponseCode: -1, StandardOutputContent: '' });
    await waitFor(async () => (await get()).Status === 'Success', {
      timeoutMs: 10_000,
      intervalMs: 50,
      what: 'the command to finish',
    });
    expect((await get()).StandardOutputContent).toBe('done\n');
  });

  it('kills a script at its executionTimeout and reports TimedOut', async () => {
    const { ssm } = clients();
    // Scripts run in real time, so their timeout is real seconds.
    const result = await runScript(ssm, node, ['echo started', 'sleep 20'], { executionTimeout: ['1'] });
    expect(result).toMatchObject({ Status: 'TimedOut', StatusDetails: 'ExecutionTimedOut' });
  });

  it('keeps the first 24,000 characters of stdout and 8,000 of stderr', async () => {
    const { ssm } = clients();
    const result = await runScript(ssm, node, [
      "head -c 30000 /dev/zero | tr '\\0' o",
      "head -c 9000 /dev/zero | tr '\\0' e >&2",
    ]);
    expect(result.StandardOutputContent).toHaveLength(24_000);
    expect(result.StandardErrorContent).toHaveLength(8_000);
  });

  it('runs in a fresh scratch directory, honours workingDirectory and removes it afterwards', async () => {
    const { ssm } = clients();
    const first = await runScript(ssm, node, ['pwd', 'touch marker', 'ls'], {
      workingDirectory: ['/opt/app'],
    });
    const dir = first.StandardOutputContent!.split('\n')[0]!;
    expect(dir).toMatch(/\/opt\/app$/);
    expect(first.StandardOutputContent).toContain('marker');
    expect(existsSync(dir)).toBe(false);
    const second = await runScript(ssm, node, ['ls -A']);
    expect(second.StandardOutputContent).toBe('');
  });

  it('simulates AL2023: sudo, yum/dnf as no-ops, whoami, and no upstart start/stop', async () => {
    const { ssm } = clients();
    const result = await runScript(ssm, node, [
      'sudo -u ec2-user whoami',
      'sudo yum install -y amazon-ssm-agent >/dev/null && echo yum-ok',
      'sudo dnf update -y >/dev/null && echo dnf-ok',
      'sudo stop amazon-ssm-agent || echo "stop failed: $?"',
    ]);
    expect(result.StandardOutputContent).toBe('ec2-user\nyum-ok\ndnf-ok\nstop failed: 1\n');
    expect(result.StandardErrorContent).toContain('sudo: stop: command not found');
  });

  it('answers aws ssm get-parameter (a signed call as the instance profile role session)', async () => {
    const { ssm } = clients();
    const read = [
      'aws ssm get-parameter --name /lab/secret --with-decryption --query Parameter.Value --output text',
      'aws ssm get-parameter --name /lab/secret --with-decryption --region us-east-1 --query Parameter.Name',
    ];
    const allowed = await runScript(ssm, node, read);
    expect(allowed).toMatchObject({
      Status: 'Success',
      StandardOutputContent: 's3cr3t value\n"/lab/secret"\n',
      // A current CLI on Amazon Linux prints nothing else (no SDK notice about this Node.js).
      StandardErrorContent: '',
    });

    const missing = await runScript(ssm, node, ['aws ssm get-parameter --name /lab/nothing-here']);
    expect(missing).toMatchObject({ Status: 'Failed', ResponseCode: 254 });
    expect(missing.StandardErrorContent).toContain(
      'An error occurred (ParameterNotFound) when calling the GetParameter operation',
    );

    const denied = await runScript(ssm, narrowNode, read.slice(0, 1));
    expect(denied).toMatchObject({ Status: 'Failed', ResponseCode: 254 });
    expect(denied.StandardErrorContent).toContain('(AccessDeniedException)');
    expect(denied.StandardErrorContent).toContain('is not authorized to perform: ssm:GetParameter');

    // Any operation of the services the lab touches is a signed call as the host's role session.
    const ec2 = await runScript(ssm, node, ['aws ec2 describe-instances']);
    expect(ec2).toMatchObject({ Status: 'Failed', ResponseCode: 254 });
    expect(ec2.StandardErrorContent).toContain(
      'An error occurred (UnauthorizedOperation) when calling the DescribeInstances operation',
    );
    const unsupported = await runScript(ssm, node, ['aws s3 ls']);
    expect(unsupported).toMatchObject({ Status: 'Failed', ResponseCode: 2 });
    expect(unsupported.StandardErrorContent).toContain('not available on this simulated host');
  });

  it('refuses targets that are not Online managed nodes with InvalidInstanceId', async () => {
    const { ssm, ec2 } = clients();
    const send = (InstanceIds: string[]) =>
      ssm.send(
        new SendCommandCommand({
          DocumentName: 'AWS-RunShellScript',
          InstanceIds,
          Parameters: { commands: ['true'] },
        }),
      );
    await expect(send([plainHost])).rejects.toMatchObject({ name: 'InvalidInstanceId' });
    await expect(send(['i-0123456789abcdef0'])).rejects.toMatchObject({ name: 'InvalidInstanceId' });
    await expect(send(['mi-0123456789abcdef0'])).rejects.toMatchObject({ name: 'InvalidInstanceId' });
    const group = await securityGroup(ec2, 'stopping');
    const stopping = (await launch(ec2, { profile: 'Bootstrap', groups: [group] })).InstanceId!;
    await waitForPing(ssm, stopping);
    await ec2.send(new StopInstancesCommand({ InstanceIds: [stopping] }));
    await expect(send([stopping])).rejects.toMatchObject({ name: 'InvalidInstanceId' });
  });

  it('validates the document and its parameters', async () => {
    const { ssm } = clients();
    await expect(
      ssm.send(
        new SendCommandCommand({
          DocumentName: 'AWS-RunPowerShellScript',
          InstanceIds: [node],
          Parameters: { commands: ['dir'] },
        }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidDocument' });
    await expect(
      ssm.send(
        new SendCommandCommand({ DocumentName: 'AWS-RunShellScript', InstanceIds: [node], Parameters: {} }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidParameters' });
    await expect(
      ssm.send(
        new SendCommandCommand({
          DocumentName: 'AWS-RunShellScript',
          InstanceIds: [node],
          Parameters: { commands: ['true'], executionTimeout: ['forever'] },
        }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidParameters' });
  });

  it('lists commands and invocations, with plugin details', async () => {
    const { ssm } = clients();
    const { Command } = await ssm.send(
      new SendCommandCommand({
        DocumentName: 'AWS-RunShellScript',
        InstanceIds: [node],
        Comment: 'listing',
        Parameters: { commands: ['echo listed'] },
      }),
    );
    const CommandId = Command!.CommandId!;
    await waitFor(
      async () =>
        (await ssm.send(new ListCommandsCommand({ CommandId }))).Commands?.[0]?.Status === 'Success',
      { timeoutMs: 10_000, intervalMs: 50, what: 'the listed command to succeed' },
    );
    const { Commands } = await ssm.send(new ListCommandsCommand({ CommandId }));
    expect(Commands?.[0]).toMatchObject({
      CommandId,
      Comment: 'listing',
      DocumentName: 'AWS-RunShellScript',
      TargetCount: 1,
      CompletedCount: 1,
      ErrorCount: 0,
    });
    const byInstance = await ssm.send(new ListCommandsCommand({ InstanceId: node }));
    expect(byInstance.Commands?.map((c) => c.CommandId)).toContain(CommandId);
    const { CommandInvocations } = await ssm.send(
      new ListCommandInvocationsCommand({ CommandId, Details: true }),
    );
    expect(CommandInvocations).toEqual([
      expect.objectContaining({
        CommandId,
        InstanceId: node,
        Status: 'Success',
        CommandPlugins: [
          expect.objectContaining({ Name: 'aws:runShellScript', ResponseCode: 0, Output: 'listed\n' }),
        ],
      }),
    ]);
    await expect(
      ssm.send(new ListCommandsCommand({ CommandId: '00000000-0000-0000-0000-000000000000' })),
    ).rejects.toMatchObject({ name: 'InvalidCommandId' });
  });
});
