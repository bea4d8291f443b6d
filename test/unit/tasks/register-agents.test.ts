import { DescribeInstanceInformationCommand, SendCommandCommand } from '@aws-sdk/client-ssm';
import { readFileSync } from 'node:fs';
import { registerAgents, type RegisterAgentsInput } from '../../../functions/register-agents/task.js';
import { labTags } from '../../../functions/shared/tags.js';
import { awsError, testLab, throttled } from '../../helpers/aws.js';
import { FakeSsm, node } from '../../helpers/fake-ssm.js';
import { runHostScript } from '../../helpers/host-script.js';
import { ACTIVATIONS, BOOTSTRAP_ID, INSTANCES } from '../../helpers/lab-fixtures.js';

const script = readFileSync(
  new URL('../../../functions/register-agents/register-agents.sh', import.meta.url),
  'utf8',
);
const KEY_PARAMETER = '/session-lab/demo/key-pair/private-key';
const KEY = '-----BEGIN RSA PRIVATE KEY-----\nMIIEsecret\n-----END RSA PRIVATE KEY-----';

let ssm: FakeSsm;
beforeEach(() => {
  ssm = new FakeSsm();
  ssm.nodes.set(BOOTSTRAP_ID, node(BOOTSTRAP_ID));
  ssm.parameters.set(KEY_PARAMETER, { value: KEY, type: 'SecureString', tags: [], version: 1 });
  ssm.parameters.set(ACTIVATIONS[0]!.codeParameter, {
    value: 'DevCode123',
    type: 'SecureString',
    tags: [],
    version: 1,
  });
  ssm.parameters.set(ACTIVATIONS[1]!.codeParameter, {
    value: 'ProdCode456',
    type: 'SecureString',
    tags: [],
    version: 1,
  });
});

const input: RegisterAgentsInput = {
  lab: testLab(),
  instances: INSTANCES,
  activations: ACTIVATIONS,
  privateKeyParameter: KEY_PARAMETER,
};
const run = () => registerAgents(input, { ssm: ssm.client });
const sent = () => ssm.mock.commandCalls(SendCommandCommand).map((call) => call.args[0].input);
const secrets = () => ssm.secrets();

describe('registerAgents', () => {
  it('sends one AWS-RunShellScript command to the bootstrap host, names in it and no secret', async () => {
    const out = await run();
    expect(out).toEqual({
      commandId: expect.any(String),
      bootstrapInstanceId: BOOTSTRAP_ID,
      registering: ['ProdOnPrem', 'DevOnPrem'],
    });
    expect(sent()).toHaveLength(1);
    const request = sent()[0]!;
    expect(request).toMatchObject({
      DocumentName: 'AWS-RunShellScript',
      InstanceIds: [BOOTSTRAP_ID],
      Comment: 'session-lab demo: register the on-premises hosts',
      TimeoutSeconds: 300,
    });
    expect(request.Parameters).toEqual({
      commands: [
        "export REGION='us-east-1' KEY_PARAMETER='/session-lab/demo/key-pair/private-key' HOSTS=$'" +
          'ProdOnPrem,172.31.1.12,22222222-2222-4222-8222-222222222222,/session-lab/demo/activation/Prod/code\\n' +
          "DevOnPrem,172.31.1.13,11111111-1111-4111-8111-111111111111,/session-lab/demo/activation/Dev/code'",
        script,
      ],
      executionTimeout: ['600'],
    });
    const text = JSON.stringify(request);
    for (const secret of [...secrets(), 'MIIEsecret']) expect(text).not.toContain(secret);
    expect(JSON.stringify(out)).not.toMatch(/Code\d|MIIE/);
  });

  it('the command it sends runs as sent: the input line sets what the script reads', async () => {
    await run();
    const [first, body] = sent()[0]!.Parameters!.commands!;
    const result = runHostScript(`${first}\n${body}`, {
      params: Object.fromEntries([...ssm.parameters].map(([name, p]) => [name, p.value])),
      env: { SSH_RETRY_SECONDS: '0' },
    });
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(
      /^REGISTERED ProdOnPrem mi-[0-9a-f]{17}\nREGISTERED DevOnPrem mi-[0-9a-f]{17}\n$/,
    );
  });

  it('running twice converges: the identical command already sent is returned, not sent again', async () => {
    const first = await run();
    ssm.commands.get(first.commandId!)!.status = 'InProgress';
    await expect(run()).resolves.toEqual(first);
    ssm.commands.get(first.commandId!)!.status = 'Success';
    await expect(run()).resolves.toEqual(first);
    expect(sent()).toHaveLength(1);
  });

  it('sends again after an earlier identical command failed', async () => {
    const first = await run();
    ssm.commands.get(first.commandId!)!.status = 'Failed';
    const second = await run();
    expect(second.commandId).not.toBe(first.commandId);
    expect(sent()).toHaveLength(2);
  });

  it('leaves out a host whose activation already has a node (a re-registration would need a new one)', async () => {
    ssm.nodes.set(
      'mi-0123456789abcdef0',
      node('mi-0123456789abcdef0', { ActivationId: ACTIVATIONS[0]!.activationId }),
    );
    await run();
    const line = sent()[0]!.Parameters!.commands![0]!;
    expect(line).not.toContain('DevOnPrem');
    expect(line).toContain("HOSTS=$'ProdOnPrem,172.31.1.12,");
    const filters = ssm.mock
      .commandCalls(DescribeInstanceInformationCommand)
      .map((call) => call.args[0].input.Filters);
    expect(filters).toContainEqual([
      { Key: 'ActivationIds', Values: ACTIVATIONS.map((a) => a.activationId) },
    ]);
  });

  it("with every host's activation used already (a retry), nothing is sent: commandId null", async () => {
    for (const [i, activation] of ACTIVATIONS.entries()) {
      ssm.nodes.set(
        `mi-000000000000000${i}a`,
        node(`mi-000000000000000${i}a`, { ActivationId: activation.activationId }),
      );
    }
    await expect(run()).resolves.toEqual({
      commandId: null,
      bootstrapInstanceId: BOOTSTRAP_ID,
      registering: [],
    });
    expect(sent()).toHaveLength(0);
  });

  describe('on a lab provisioned again (hosts registered by an earlier run)', () => {
    const ONLINE_PROD = 'mi-0a0000000000000a1';
    const ONLINE_DEV = 'mi-0d0000000000000d1';
    /** The hybrid node an earlier run registered for a host: the lab's tags, the host's name and address. */
    function earlierNode(id: string, role: 'ProdOnPrem' | 'DevOnPrem', extra = {}) {
      const host = INSTANCES.find((i) => i.role === role)!;
      ssm.nodes.set(
        id,
        node(id, {
          ActivationId: '99999999-9999-4999-8999-999999999999',
          Name: `${role}-demo`,
          IPAddress: host.privateIpAddress,
          ...extra,
        }),
      );
      ssm.nodeTags.set(id, labTags('demo', { Environment: host.environment }));
    }

    it('sends nothing when every host has an Online node of the lab, even with the bootstrap host not Online', async () => {
      earlierNode(ONLINE_PROD, 'ProdOnPrem');
      earlierNode(ONLINE_DEV, 'DevOnPrem');
      ssm.nodes.delete(BOOTSTRAP_ID);
      const out = await registerAgents({ ...input, activations: [] }, { ssm: ssm.client });
      expect(out).toEqual({ commandId: null, bootstrapInstanceId: BOOTSTRAP_ID, registering: [] });
      expect(sent()).toHaveLength(0);
      const filters = ssm.mock
        .commandCalls(DescribeInstanceInformationCommand)
        .map((call) => call.args[0].input.Filters);
      expect(filters).toContainEqual([{ Key: 'tag:session-lab:lab-id', Values: ['demo'] }]);
    });

    it('registers only the host without one', async () => {
      earlierNode(ONLINE_PROD, 'ProdOnPrem');
      const out = await run();
      expect(out.registering).toEqual(['DevOnPrem']);
      expect(sent()[0]!.Parameters!.commands![0]).toMatch(/ HOSTS=\$'DevOnPrem,172\.31\.1\.13,[^\\]*'$/);
    });

    it.each([
      ['a ConnectionLost node', { PingStatus: 'ConnectionLost' }],
      ['a node on another address (a replaced host)', { IPAddress: '172.31.9.9' }],
      ['a node reporting no address', { IPAddress: undefined }],
      ['a node named after another host', { Name: 'DevOnPrem-demo' }],
      ['an EC2 node', { ResourceType: 'EC2Instance' }],
    ])('%s does not count as the host registered', async (_why, change) => {
      earlierNode(ONLINE_PROD, 'ProdOnPrem', change);
      earlierNode(ONLINE_DEV, 'DevOnPrem');
      const out = await run();
      expect(out.registering).toEqual(['ProdOnPrem']);
    });

    it("a node of the host without the lab's tag does not count", async () => {
      earlierNode(ONLINE_PROD, 'ProdOnPrem');
      earlierNode(ONLINE_DEV, 'DevOnPrem');
      ssm.nodeTags.set(ONLINE_PROD, labTags('other'));
      await expect(run()).resolves.toMatchObject({ registering: ['ProdOnPrem'] });
    });

    it('an Online node beside an older ConnectionLost one of the same host counts', async () => {
      earlierNode('mi-0a0000000000000a0', 'ProdOnPrem', { PingStatus: 'ConnectionLost' });
      earlierNode(ONLINE_PROD, 'ProdOnPrem');
      earlierNode(ONLINE_DEV, 'DevOnPrem');
      await expect(run()).resolves.toMatchObject({ commandId: null });
    });

    it('a host to register without an activation of this run fails naming it (its node went away since)', async () => {
      earlierNode(ONLINE_PROD, 'ProdOnPrem');
      const error = await registerAgents(
        { ...input, activations: ACTIVATIONS.filter((a) => a.hostRole === 'ProdOnPrem') },
        { ssm: ssm.client },
      ).catch((err: Error) => err);
      expect(error).toMatchObject({ name: 'LabStepFailed' });
      expect((error as Error).message).toContain('DevOnPrem (i-0d00000000000000d)');
      expect(sent()).toHaveLength(0);
    });
  });

  it('a bootstrap host not Online yet is NotReadyYet and nothing is sent', async () => {
    ssm.nodes.set(BOOTSTRAP_ID, node(BOOTSTRAP_ID, { PingStatus: 'ConnectionLost' }));
    await expect(run()).rejects.toMatchObject({ name: 'NotReadyYet' });
    ssm.nodes.delete(BOOTSTRAP_ID);
    await expect(run()).rejects.toMatchObject({ name: 'NotReadyYet' });
    expect(sent()).toHaveLength(0);
  });

  it('InvalidInstanceId at SendCommand (agent went away) is NotReadyYet', async () => {
    ssm.mock.on(SendCommandCommand).rejects(awsError('InvalidInstanceId'));
    await expect(run()).rejects.toMatchObject({ name: 'NotReadyYet' });
  });

  it('refuses instances without a bootstrap host', async () => {
    await expect(
      registerAgents(
        { ...input, instances: INSTANCES.filter((i) => i.kind !== 'bootstrap') },
        { ssm: ssm.client },
      ),
    ).rejects.toMatchObject({ name: 'InvalidLabInput', field: 'instances' });
  });

  it('propagates throttling for the Step Functions retry', async () => {
    ssm.mock.on(SendCommandCommand).rejects(throttled.ssm());
    await expect(run()).rejects.toMatchObject({ name: 'ThrottlingException' });
  });

  it('a lost SendCommand answer (OutcomeUnknown) is NotReadyYet: the re-run checks before sending again', async () => {
    ssm.mock
      .on(SendCommandCommand)
      .rejects(Object.assign(new Error('InternalServerError (HTTP 500)'), { name: 'OutcomeUnknown' }));
    await expect(run()).rejects.toMatchObject({ name: 'NotReadyYet' });
    expect(sent()).toHaveLength(1);
  });
});
