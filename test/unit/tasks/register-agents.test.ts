import { DescribeInstanceInformationCommand, SendCommandCommand } from '@aws-sdk/client-ssm';
import { readFileSync } from 'node:fs';
import { registerAgents, type RegisterAgentsInput } from '../../../functions/register-agents/task.js';
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
    expect(out).toEqual({ commandId: expect.any(String), bootstrapInstanceId: BOOTSTRAP_ID });
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
          'DevOnPrem,172.31.1.13,11111111-1111-4111-8111-111111111111,/session-lab/demo/activation/Dev/code\\n' +
          "ProdOnPrem,172.31.1.12,22222222-2222-4222-8222-222222222222,/session-lab/demo/activation/Prod/code'",
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
      /^REGISTERED DevOnPrem mi-[0-9a-f]{17}\nREGISTERED ProdOnPrem mi-[0-9a-f]{17}\n$/,
    );
  });

  it('running twice converges: the identical command already sent is returned, not sent again', async () => {
    const first = await run();
    ssm.commands.get(first.commandId)!.status = 'InProgress';
    await expect(run()).resolves.toEqual(first);
    ssm.commands.get(first.commandId)!.status = 'Success';
    await expect(run()).resolves.toEqual(first);
    expect(sent()).toHaveLength(1);
  });

  it('sends again after an earlier identical command failed', async () => {
    const first = await run();
    ssm.commands.get(first.commandId)!.status = 'Failed';
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
    const filter = ssm.mock.commandCalls(DescribeInstanceInformationCommand)[0]!.args[0].input.Filters;
    expect(filter).toEqual([{ Key: 'ActivationIds', Values: ACTIVATIONS.map((a) => a.activationId) }]);
  });

  it('with every host registered the command is a no-op the script accepts', async () => {
    for (const [i, activation] of ACTIVATIONS.entries()) {
      ssm.nodes.set(
        `mi-000000000000000${i}a`,
        node(`mi-000000000000000${i}a`, { ActivationId: activation.activationId }),
      );
    }
    await run();
    expect(sent()[0]!.Parameters!.commands![0]).toMatch(/ HOSTS=''$/);
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
});
