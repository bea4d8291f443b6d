import { CreateKeyPairCommand, type Instance } from '@aws-sdk/client-ec2';
import {
  AddTagsToResourceCommand,
  CreateActivationCommand,
  DeleteActivationCommand,
  DeregisterManagedInstanceCommand,
  DescribeActivationsCommand,
  DescribeInstanceInformationCommand,
  ListTagsForResourceCommand,
  PutParameterCommand,
  RemoveTagsFromResourceCommand,
  type InstanceInformation,
} from '@aws-sdk/client-ssm';
import { waitFor } from '../../../local/emulator/net.js';
import { useEmulator } from '../../helpers/emulator.js';
import {
  SSM_CORE,
  allowSshFrom,
  fleetClients,
  instanceProfile,
  launch,
  pingStatus,
  runScript,
  securityGroup,
  serviceRole,
  waitForPing,
} from '../../helpers/fleet.js';

const REGION = 'us-east-1';
const MI = /mi-[0-9a-f]{17}/;

/**
 * The seed's on-premises registration (Task 1 step 11-14), driven as the product drives it: Run
 * Command on a bootstrap node that reads the secrets from Parameter Store and ssh-es into each mock
 * host. The seed's commands are corrected for Amazon Linux 2023 (systemctl, not upstart; -y).
 */
describe('emulator: registering mock on-premises hosts over ssh from a bootstrap node', () => {
  const emulator = useEmulator({
    time: {
      scale: 0.01,
      ec2BootSeconds: 10,
      agentOnlineSeconds: 20,
      invocationVisibleSeconds: 5,
      commandTimeoutSeconds: 60,
    },
  });
  const clients = () => fleetClients(emulator());
  let bootstrap: string;
  const hosts: Record<string, Instance> = {};
  const activations: Record<string, string> = {};

  /** A hybrid activation whose code goes to Parameter Store under /lab/code/<label>. */
  async function activation(
    label: string,
    input: Partial<ConstructorParameters<typeof CreateActivationCommand>[0]>,
  ) {
    const { ssm } = clients();
    const { ActivationId, ActivationCode } = await ssm.send(
      new CreateActivationCommand({ IamRole: 'SSMServiceRole', RegistrationLimit: 10, ...input }),
    );
    await ssm.send(
      new PutParameterCommand({ Name: `/lab/code/${label}`, Type: 'SecureString', Value: ActivationCode! }),
    );
    activations[label] = ActivationId!;
    return ActivationId!;
  }

  /** Bootstrap-side script: fetch the key (and the code), then run `remote` on the host as root through ssh. */
  function overSsh(host: string, remote: string[], options: { code?: string } = {}): string[] {
    return [
      'set -euo pipefail',
      'KEYFILE="$(mktemp)"',
      `aws ssm get-parameter --name /lab/ssh-key --with-decryption --query Parameter.Value --output text --region ${REGION} > "$KEYFILE"`,
      ...(options.code
        ? [
            `CODE="$(aws ssm get-parameter --name /lab/code/${options.code} --with-decryption --query Parameter.Value --output text)"`,
          ]
        : []),
      `ssh -i "$KEYFILE" -o StrictHostKeyChecking=no -o BatchMode=yes -o ConnectTimeout=10 ec2-user@${hosts[host]!.PrivateIpAddress} sudo bash -s <<EOF`,
      ...remote,
      'EOF',
    ];
  }

  /** The seed's registration lines for AL2023: agent preinstalled, systemd, -y for re-runs. */
  const register = (label: string, flags = '-y') => [
    'set -e',
    'yum update -y >/dev/null',
    'systemctl stop amazon-ssm-agent',
    `amazon-ssm-agent -register -code "$CODE" -id "${activations[label]}" -region ${REGION} ${flags}`,
    'systemctl start amazon-ssm-agent',
  ];

  async function nodesOf(activationId: string): Promise<InstanceInformation[]> {
    const { InstanceInformationList } = await clients().ssm.send(
      new DescribeInstanceInformationCommand({ Filters: [{ Key: 'ActivationIds', Values: [activationId] }] }),
    );
    return InstanceInformationList ?? [];
  }

  async function registrationsCount(activationId: string): Promise<number | undefined> {
    const { ActivationList } = await clients().ssm.send(
      new DescribeActivationsCommand({
        Filters: [{ FilterKey: 'ActivationIds', FilterValues: [activationId] }],
      }),
    );
    return ActivationList?.[0]?.RegistrationsCount;
  }

  beforeAll(async () => {
    const { iam, ec2, ssm } = clients();
    await serviceRole(iam, 'SSMServiceRole');
    await instanceProfile(iam, 'SSMLabBootstrap', [SSM_CORE]);
    const bootstrapGroup = await securityGroup(ec2, 'bootstrap');
    const hostGroup = await securityGroup(ec2, 'onprem');
    const isolatedGroup = await securityGroup(ec2, 'isolated');
    await allowSshFrom(ec2, hostGroup, bootstrapGroup);
    for (const [name, parameter] of [
      ['lab-key', '/lab/ssh-key'],
      ['other-key', '/lab/other-key'],
    ]) {
      const { KeyMaterial } = await ec2.send(new CreateKeyPairCommand({ KeyName: name }));
      await ssm.send(new PutParameterCommand({ Name: parameter, Type: 'SecureString', Value: KeyMaterial! }));
    }
    for (const [name, environment] of [
      ['DevOnPrem', 'Dev'],
      ['ProdOnPrem', 'Prod'],
      ['SpareA', 'Dev'],
      ['SpareB', 'Dev'],
      ['SpareC', 'Dev'],
    ]) {
      hosts[name!] = await launch(ec2, {
        keyName: 'lab-key',
        groups: [hostGroup],
        tags: { Name: name!, Environment: environment! },
      });
    }
    hosts.Isolated = await launch(ec2, { keyName: 'lab-key', groups: [isolatedGroup] });
    bootstrap = (await launch(ec2, { profile: 'SSMLabBootstrap', groups: [bootstrapGroup] })).InstanceId!;
    await waitForPing(ssm, bootstrap);
    await activation('dev', {
      DefaultInstanceName: 'DevOnPrem',
      Tags: [{ Key: 'Environment', Value: 'Dev' }],
    });
    await activation('prod', {
      DefaultInstanceName: 'ProdOnPrem',
      Tags: [{ Key: 'Environment', Value: 'Prod' }],
    });
  });

  it('registers DevOnPrem and ProdOnPrem: two mi- nodes come Online, named and tagged from their activations', async () => {
    const { ssm } = clients();
    for (const [host, label] of [
      ['DevOnPrem', 'dev'],
      ['ProdOnPrem', 'prod'],
    ] as const) {
      const result = await runScript(ssm, bootstrap, overSsh(host, register(label), { code: label }));
      expect(result).toMatchObject({ Status: 'Success', ResponseCode: 0 });
      expect(result.StandardOutputContent).toMatch(
        /Successfully registered the instance with AWS SSM using Managed instance-id: mi-[0-9a-f]{17}/,
      );
      // The code reached the host through ssh's stdin, never through the command's parameters.
    }
    for (const [host, label, environment] of [
      ['DevOnPrem', 'dev', 'Dev'],
      ['ProdOnPrem', 'prod', 'Prod'],
    ] as const) {
      const [node] = await nodesOf(activations[label]!);
      expect(node?.InstanceId).toMatch(/^mi-[0-9a-f]{17}$/);
      await waitForPing(ssm, node!.InstanceId!);
      const [online] = await nodesOf(activations[label]!);
      expect(online).toMatchObject({
        PingStatus: 'Online',
        ResourceType: 'ManagedInstance',
        Name: host,
        IamRole: 'SSMServiceRole',
        ActivationId: activations[label],
        IPAddress: hosts[host]!.PrivateIpAddress,
        PlatformType: 'Linux',
      });
      expect(online!.RegistrationDate).toBeInstanceOf(Date);
      const { TagList } = await ssm.send(
        new ListTagsForResourceCommand({ ResourceType: 'ManagedInstance', ResourceId: online!.InstanceId }),
      );
      expect(TagList).toEqual([{ Key: 'Environment', Value: environment }]);
      expect(await registrationsCount(activations[label]!)).toBe(1);
    }
    const { InstanceInformationList } = await ssm.send(
      new DescribeInstanceInformationCommand({ Filters: [{ Key: 'tag:Environment', Values: ['Prod'] }] }),
    );
    expect(InstanceInformationList?.map((i) => i.Name)).toEqual(['ProdOnPrem']);
  });

  it('refuses -register without -y on a registered host: the prompt meets an empty stdin', async () => {
    const { ssm } = clients();
    const withoutY = register('dev', '').slice(0, -1);
    const result = await runScript(ssm, bootstrap, overSsh('DevOnPrem', withoutY, { code: 'dev' }));
    expect(result).toMatchObject({ Status: 'Failed', ResponseCode: 1 });
    expect(result.StandardOutputContent).toContain('Instance already registered. Would you like to override');
    expect(result.StandardErrorContent).toContain('Registration failed due to EOF');
    // Mid-script the prompt reads the script's next line from `bash -s`'s stdin instead: no better.
    const midScript = await runScript(
      ssm,
      bootstrap,
      overSsh('DevOnPrem', register('dev', ''), { code: 'dev' }),
    );
    expect(midScript).toMatchObject({ Status: 'Failed', ResponseCode: 1 });
    expect(midScript.StandardErrorContent).toContain('Registration failed due to Invalid response received.');
    expect(await registrationsCount(activations.dev!)).toBe(1);
  });

  it('re-registers with -y: a new node comes Online and the old one is left ConnectionLost', async () => {
    const { ssm } = clients();
    const [before] = await nodesOf(activations.dev!);
    const result = await runScript(ssm, bootstrap, overSsh('DevOnPrem', register('dev'), { code: 'dev' }));
    expect(result.Status).toBe('Success');
    const newId = MI.exec(result.StandardOutputContent!)![0];
    expect(newId).not.toBe(before!.InstanceId);
    await waitForPing(ssm, newId);
    expect(await pingStatus(ssm, before!.InstanceId!)).toBe('ConnectionLost');
    expect(await registrationsCount(activations.dev!)).toBe(2);
  });

  it('fails a registration with a wrong activation code and creates no node', async () => {
    const { ssm } = clients();
    const id = await activation('wrong', { DefaultInstanceName: 'Wrong' });
    const remote = [
      `amazon-ssm-agent -register -code "AAAAAAAAAAAAAAAAAAAA" -id "${id}" -region ${REGION} -y`,
    ];
    const result = await runScript(ssm, bootstrap, overSsh('SpareA', remote));
    expect(result).toMatchObject({ Status: 'Failed', ResponseCode: 1 });
    expect(result.StandardErrorContent).toContain(
      'Registration failed due to error registering the instance',
    );
    expect(result.StandardErrorContent).toContain('InvalidActivation');
    expect(await nodesOf(id)).toEqual([]);
    expect(await registrationsCount(id)).toBe(0);
  });

  it('fails a registration with an expired activation', async () => {
    const { ssm } = clients();
    const id = await activation('expiring', { ExpirationDate: new Date(Date.now() + 1000) });
    await waitFor(
      async () =>
        (
          await ssm.send(
            new DescribeActivationsCommand({ Filters: [{ FilterKey: 'ActivationIds', FilterValues: [id] }] }),
          )
        ).ActivationList?.[0]?.Expired === true,
      { timeoutMs: 5000, intervalMs: 50, what: 'the activation to expire' },
    );
    const result = await runScript(
      ssm,
      bootstrap,
      overSsh('SpareA', register('expiring'), { code: 'expiring' }),
    );
    expect(result).toMatchObject({ Status: 'Failed', ResponseCode: 1 });
    expect(result.StandardErrorContent).toContain('expired');
    expect(await nodesOf(id)).toEqual([]);
  });

  it('stops at the registration limit', async () => {
    const { ssm } = clients();
    const id = await activation('single', {
      RegistrationLimit: 1,
      Tags: [{ Key: 'Environment', Value: 'Dev' }],
    });
    const first = await runScript(ssm, bootstrap, overSsh('SpareA', register('single'), { code: 'single' }));
    expect(first.Status).toBe('Success');
    const second = await runScript(ssm, bootstrap, overSsh('SpareB', register('single'), { code: 'single' }));
    expect(second).toMatchObject({ Status: 'Failed', ResponseCode: 1 });
    expect(second.StandardErrorContent).toContain('registration limit of 1');
    expect(await nodesOf(id)).toHaveLength(1);
    expect(await registrationsCount(id)).toBe(1);
  });

  it('refuses ssh without a security group rule, with the wrong key, an open key file or the wrong user', async () => {
    const { ssm } = clients();
    const spare = hosts.SpareC!.PrivateIpAddress;
    const isolated = hosts.Isolated!.PrivateIpAddress;
    const read = (parameter: string, file: string) =>
      `aws ssm get-parameter --name ${parameter} --with-decryption --query Parameter.Value --output text > ${file} && chmod 600 ${file}`;
    // One script, several attempts (each reported as "<name> rc=<exit> out=<stdout>", its stderr
    // prefixed with "<name>: "); strict host key checking goes first, before known_hosts has the host.
    const result = await runScript(ssm, bootstrap, [
      'set -uo pipefail',
      read('/lab/ssh-key', 'lab.pem'),
      read('/lab/other-key', 'other.pem'),
      'cp lab.pem open.pem && chmod 644 open.pem',
      'attempt() { local name=$1; shift; ssh "$@" whoami >"$name.out" 2>"$name.err"; echo "$name rc=$? out=$(cat "$name.out")"; sed "s/^/$name: /" "$name.err" >&2; }',
      'OPTS="-o StrictHostKeyChecking=no -o BatchMode=yes -o ConnectTimeout=10"',
      `attempt strict -i lab.pem -o BatchMode=yes ec2-user@${spare}`,
      `attempt noRule -i lab.pem $OPTS ec2-user@${isolated}`,
      `attempt wrongKey -i other.pem $OPTS ec2-user@${spare}`,
      `attempt openKey -i open.pem $OPTS ec2-user@${spare}`,
      `attempt rootUser -i lab.pem $OPTS root@${spare}`,
      `attempt allowed -i lab.pem $OPTS ec2-user@${spare}`,
    ]);
    expect(result.StandardOutputContent!.split('\n').filter(Boolean)).toEqual([
      'strict rc=255 out=',
      'noRule rc=255 out=',
      'wrongKey rc=255 out=',
      'openKey rc=255 out=',
      'rootUser rc=255 out=',
      'allowed rc=0 out=ec2-user',
    ]);
    const stderr = result.StandardErrorContent!;
    expect(stderr).toContain('strict: Host key verification failed.');
    expect(stderr).toContain(`noRule: ssh: connect to host ${isolated} port 22: Connection timed out`);
    expect(stderr).toContain(`wrongKey: ec2-user@${spare}: Permission denied (publickey).`);
    expect(stderr).toContain('openKey: @         WARNING: UNPROTECTED PRIVATE KEY FILE!          @');
    expect(stderr).toContain(`openKey: ec2-user@${spare}: Permission denied (publickey).`);
    expect(stderr).toContain(`rootUser: root@${spare}: Permission denied (publickey).`);
  });

  it("leaves a node registered but never Online with the seed's upstart commands on AL2023", async () => {
    const { ssm } = clients();
    const id = await activation('upstart', { DefaultInstanceName: 'Upstart' });
    // The seed's lines as written, run without set -e as in an interactive shell.
    const seed = [
      'sudo yum update -Y',
      'sudo stop amazon-ssm-agent',
      `sudo amazon-ssm-agent -register -code "$CODE" -id "${id}" -region ${REGION}`,
      'sudo start amazon-ssm-agent',
      'true',
    ];
    const result = await runScript(
      ssm,
      bootstrap,
      overSsh('SpareC', seed, { code: 'upstart' }).map((line) =>
        line.endsWith('sudo bash -s <<EOF') ? line.replace('sudo bash -s', 'bash -s') : line,
      ),
    );
    expect(result.StandardErrorContent).toContain('sudo: stop: command not found');
    expect(result.StandardErrorContent).toContain('sudo: start: command not found');
    const [node] = await nodesOf(id);
    expect(node?.PingStatus).toBe('ConnectionLost');
    await new Promise((resolve) => setTimeout(resolve, emulator().clock.realMs(40)));
    expect(await pingStatus(ssm, node!.InstanceId!)).toBe('ConnectionLost');

    // The agent never stopped, so `systemctl start` is a no-op and the running agent keeps its old
    // identity; a restart picks the registration up, a stop loses the connection again.
    const start = await runScript(ssm, bootstrap, overSsh('SpareC', ['systemctl start amazon-ssm-agent']));
    expect(start.Status).toBe('Success');
    await new Promise((resolve) => setTimeout(resolve, emulator().clock.realMs(40)));
    expect(await pingStatus(ssm, node!.InstanceId!)).toBe('ConnectionLost');
    const restart = await runScript(
      ssm,
      bootstrap,
      overSsh('SpareC', ['systemctl restart amazon-ssm-agent']),
    );
    expect(restart.Status).toBe('Success');
    await waitForPing(ssm, node!.InstanceId!);
    const stop = await runScript(ssm, bootstrap, overSsh('SpareC', ['systemctl stop amazon-ssm-agent']));
    expect(stop.Status).toBe('Success');
    expect(await pingStatus(ssm, node!.InstanceId!)).toBe('ConnectionLost');
  });

  it('manages a node’s tags and deregisters it; deleting an activation leaves its nodes', async () => {
    const { ssm } = clients();
    const [prod] = await nodesOf(activations.prod!);
    const ResourceId = prod!.InstanceId!;
    await ssm.send(
      new AddTagsToResourceCommand({
        ResourceType: 'ManagedInstance',
        ResourceId,
        Tags: [{ Key: 'session-lab:lab-id', Value: 'demo' }],
      }),
    );
    await ssm.send(
      new RemoveTagsFromResourceCommand({
        ResourceType: 'ManagedInstance',
        ResourceId,
        TagKeys: ['Environment'],
      }),
    );
    const { TagList } = await ssm.send(
      new ListTagsForResourceCommand({ ResourceType: 'ManagedInstance', ResourceId }),
    );
    expect(TagList).toEqual([{ Key: 'session-lab:lab-id', Value: 'demo' }]);

    await ssm.send(new DeleteActivationCommand({ ActivationId: activations.prod }));
    expect((await nodesOf(activations.prod!)).map((n) => n.InstanceId)).toEqual([ResourceId]);

    await ssm.send(new DeregisterManagedInstanceCommand({ InstanceId: ResourceId }));
    expect(await nodesOf(activations.prod!)).toEqual([]);
    await expect(
      ssm.send(new DeregisterManagedInstanceCommand({ InstanceId: ResourceId })),
    ).rejects.toMatchObject({
      name: 'InvalidInstanceId',
    });
  });
});
