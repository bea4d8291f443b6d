import {
  AddTagsToResourceCommand,
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  ListTagsForResourceCommand,
  type CommandInvocationStatus,
} from '@aws-sdk/client-ssm';
import {
  outputTail,
  waitForRegistration,
  type WaitForRegistrationInput,
} from '../../../functions/wait-for-registration/task.js';
import { labTags, toTagRecord } from '../../../functions/shared/tags.js';
import { awsError, testLab, throttled } from '../../helpers/aws.js';
import { FakeSsm, node } from '../../helpers/fake-ssm.js';
import { ACTIVATIONS, BOOTSTRAP_ID, INSTANCES } from '../../helpers/lab-fixtures.js';

const DEV_NODE = 'mi-0d0000000000000d1';
const PROD_NODE = 'mi-0a0000000000000a1';

let ssm: FakeSsm;
let commandId: string;
beforeEach(() => {
  ssm = new FakeSsm();
  commandId = '';
});

/** A registration command to the bootstrap host, as register-agents sent it. */
function command(status: CommandInvocationStatus, stdout = '', stderr = ''): void {
  commandId = '0b0c0d0e-0000-4000-8000-000000000001';
  ssm.commands.set(commandId, {
    request: { DocumentName: 'AWS-RunShellScript', InstanceIds: [BOOTSTRAP_ID] },
    status,
    stdout,
    stderr,
    visible: true,
    requestedAt: new Date(),
  });
}

/** The two nodes the activations registered, Online, named and tagged from their activation. */
function registered(): void {
  for (const [id, activation] of [
    [DEV_NODE, ACTIVATIONS[0]!],
    [PROD_NODE, ACTIVATIONS[1]!],
  ] as const) {
    const host = INSTANCES.find((i) => i.role === activation.hostRole)!;
    ssm.nodes.set(
      id,
      node(id, {
        ActivationId: activation.activationId,
        Name: `${activation.hostRole}-demo`,
        IPAddress: host.privateIpAddress,
        RegistrationDate: new Date('2026-11-23T10:00:00Z'),
      }),
    );
    ssm.nodeTags.set(id, labTags('demo', { Environment: activation.environment }));
  }
}

const stdout = `REGISTERED DevOnPrem ${DEV_NODE}\nREGISTERED ProdOnPrem ${PROD_NODE}\n`;
const input = (): WaitForRegistrationInput => ({
  lab: testLab(),
  commandId: commandId || '0b0c0d0e-0000-4000-8000-00000000000f',
  bootstrapInstanceId: BOOTSTRAP_ID,
  instances: INSTANCES,
});
const run = () => waitForRegistration(input(), { ssm: ssm.client });
/** The poll when register-agents sent no command (every host was registered already). */
const runWithoutCommand = () => waitForRegistration({ ...input(), commandId: null }, { ssm: ssm.client });
const NOT_READY = { ready: false, pending: ['ProdOnPrem', 'DevOnPrem'], nodes: [] };
const READY = {
  ready: true,
  pending: [],
  nodes: [
    { role: 'ProdOnPrem', environment: 'Prod', managedInstanceId: PROD_NODE },
    { role: 'DevOnPrem', environment: 'Dev', managedInstanceId: DEV_NODE },
  ],
};

describe('waitForRegistration', () => {
  it('is ready when the command succeeded and both nodes are Online and tagged', async () => {
    command('Success', stdout);
    registered();
    await expect(run()).resolves.toEqual(READY);
    expect(ssm.mock.commandCalls(AddTagsToResourceCommand)).toHaveLength(0);
  });

  it('an invocation not visible yet right after SendCommand is not ready, not an error', async () => {
    await expect(run()).resolves.toEqual(NOT_READY);
    command('Pending');
    ssm.commands.get(commandId)!.visible = false;
    await expect(run()).resolves.toEqual(NOT_READY);
  });

  it.each(['Pending', 'InProgress', 'Delayed', 'Cancelling'] as const)(
    'a command still %s is not ready',
    async (status) => {
      command(status);
      registered();
      await expect(run()).resolves.toEqual(NOT_READY);
    },
  );

  it.each(['Failed', 'TimedOut', 'Cancelled'] as const)(
    'a %s command fails the step with the tail of its output and no secret',
    async (status) => {
      command(
        status,
        'REGISTERED ProdOnPrem mi-0a0000000000000a1\n',
        'FAILED DevOnPrem: registration on 172.31.1.13 exited with 1\n' +
          'debug: amazon-ssm-agent -register -code "SuperSecretCode1" -id "x"\n' +
          '-----BEGIN RSA PRIVATE KEY-----\nMIIEsecret\n-----END RSA PRIVATE KEY-----\n',
      );
      const error = await run().catch((err: Error) => err);
      expect(error).toMatchObject({ name: 'LabStepFailed' });
      expect((error as Error).message).toContain(
        `registration command ${commandId} on ${BOOTSTRAP_ID} ended ${status}`,
      );
      expect((error as Error).message).toContain(
        'FAILED DevOnPrem: registration on 172.31.1.13 exited with 1',
      );
      expect((error as Error).message).toContain('REGISTERED ProdOnPrem');
      expect((error as Error).message).not.toMatch(/SuperSecretCode1|MIIEsecret/);
    },
  );

  it('a node not Online yet keeps its host pending', async () => {
    command('Success', stdout);
    registered();
    ssm.nodes.get(PROD_NODE)!.PingStatus = 'ConnectionLost';
    await expect(run()).resolves.toEqual({
      ready: false,
      pending: ['ProdOnPrem'],
      nodes: [{ role: 'DevOnPrem', environment: 'Dev', managedInstanceId: DEV_NODE }],
    });
  });

  it('a node not listed yet keeps its host pending', async () => {
    command('Success', stdout);
    registered();
    ssm.nodes.delete(DEV_NODE);
    await expect(run()).resolves.toMatchObject({ ready: false, pending: ['DevOnPrem'] });
  });

  it('a node missing its tags is tagged, stays pending, and is ready on the next poll (converges)', async () => {
    command('Success', stdout);
    registered();
    ssm.nodeTags.set(PROD_NODE, []);
    await expect(run()).resolves.toMatchObject({ ready: false, pending: ['ProdOnPrem'] });
    expect(toTagRecord(ssm.nodeTags.get(PROD_NODE))).toEqual({
      'session-lab:lab-id': 'demo',
      'session-lab:managed-by': 'session-lab',
      Environment: 'Prod',
    });
    await expect(run()).resolves.toMatchObject({ ready: true });
    expect(ssm.mock.commandCalls(AddTagsToResourceCommand)).toHaveLength(1);
  });

  it('a node tagged with the wrong environment is corrected', async () => {
    command('Success', stdout);
    registered();
    ssm.nodeTags.set(PROD_NODE, labTags('demo', { Environment: 'Dev' }));
    await expect(run()).resolves.toMatchObject({ ready: false });
    expect(toTagRecord(ssm.nodeTags.get(PROD_NODE)).Environment).toBe('Prod');
  });

  it('a node too new to be tagged (InvalidResourceId) is pending', async () => {
    command('Success', stdout);
    registered();
    ssm.mock.on(ListTagsForResourceCommand).rejects(awsError('InvalidResourceId'));
    await expect(run()).resolves.toMatchObject({ ready: false, pending: ['ProdOnPrem', 'DevOnPrem'] });
  });

  it('prefers the node the script reported over another node of the host', async () => {
    command('Success', stdout);
    registered();
    const stale = 'mi-0ffffffffffffff01';
    ssm.nodes.set(
      stale,
      node(stale, {
        ActivationId: ACTIVATIONS[1]!.activationId,
        Name: 'ProdOnPrem-demo',
        RegistrationDate: new Date(Date.now() + 1000),
      }),
    );
    ssm.nodeTags.set(stale, labTags('demo', { Environment: 'Prod' }));
    const out = await run();
    expect(out.nodes.find((n) => n.role === 'ProdOnPrem')!.managedInstanceId).toBe(PROD_NODE);
  });

  it.each([
    ['reports no address yet', { IPAddress: undefined }],
    ['reports another address', { IPAddress: '172.31.9.9' }],
  ])(
    'a reported node that %s keeps its host pending (name and tags alone never match)',
    async (_why, change) => {
      command('Success', stdout);
      registered();
      Object.assign(ssm.nodes.get(PROD_NODE)!, change);
      await expect(run()).resolves.toEqual({
        ready: false,
        pending: ['ProdOnPrem'],
        nodes: [{ role: 'DevOnPrem', environment: 'Dev', managedInstanceId: DEV_NODE }],
      });
      // Once it reports the host's address, it is the host's.
      ssm.nodes.get(PROD_NODE)!.IPAddress = INSTANCES.find((i) => i.role === 'ProdOnPrem')!.privateIpAddress;
      await expect(run()).resolves.toEqual(READY);
    },
  );

  it('without REGISTERED lines (hosts registered by an earlier command) the newest Online node is taken', async () => {
    command('Success', '');
    registered();
    await expect(run()).resolves.toMatchObject({ ready: true });
  });

  describe('without a command (every host registered already, by an earlier run)', () => {
    it('reads no command and finds the nodes by the lab tag, host name and address', async () => {
      registered();
      await expect(runWithoutCommand()).resolves.toEqual(READY);
      expect(ssm.mock.commandCalls(GetCommandInvocationCommand)).toHaveLength(0);
      const filters = ssm.mock
        .commandCalls(DescribeInstanceInformationCommand)
        .map((call) => call.args[0].input.Filters);
      expect(filters).toEqual([[{ Key: 'tag:session-lab:lab-id', Values: ['demo'] }]]);
    });

    it('takes the Online node of a host that also has an older ConnectionLost one', async () => {
      registered();
      const older = 'mi-0a0000000000000a0';
      ssm.nodes.set(
        older,
        node(older, {
          PingStatus: 'ConnectionLost',
          Name: 'ProdOnPrem-demo',
          IPAddress: '172.31.1.12',
          RegistrationDate: new Date('2026-11-22T10:00:00Z'),
        }),
      );
      ssm.nodeTags.set(older, labTags('demo', { Environment: 'Prod' }));
      await expect(runWithoutCommand()).resolves.toEqual(READY);
    });

    it('a host whose only node is ConnectionLost is pending', async () => {
      registered();
      ssm.nodes.get(DEV_NODE)!.PingStatus = 'ConnectionLost';
      await expect(runWithoutCommand()).resolves.toMatchObject({ ready: false, pending: ['DevOnPrem'] });
    });

    it.each([
      ['reports no address', { IPAddress: undefined }],
      ['reports another address', { IPAddress: '172.31.9.9' }],
    ])("does not take a node of the host's name and the lab's tags that %s", async (_why, change) => {
      registered();
      Object.assign(ssm.nodes.get(DEV_NODE)!, change);
      await expect(runWithoutCommand()).resolves.toMatchObject({ ready: false, pending: ['DevOnPrem'] });
    });

    it("does not take a node of the host's name on another address (a replaced host) or of another lab", async () => {
      registered();
      ssm.nodes.get(PROD_NODE)!.IPAddress = '172.31.9.9';
      ssm.nodeTags.set(DEV_NODE, labTags('other', { Environment: 'Dev' }));
      await expect(runWithoutCommand()).resolves.toEqual(NOT_READY);
      expect(ssm.mock.commandCalls(AddTagsToResourceCommand)).toHaveLength(0);
    });
  });

  it('propagates throttling for the Step Functions retry', async () => {
    ssm.mock.on(GetCommandInvocationCommand).rejects(throttled.ssm());
    await expect(run()).rejects.toMatchObject({ name: 'ThrottlingException' });
  });
});

describe('outputTail', () => {
  it('keeps the end of long output and removes anything that looks like a secret', () => {
    const long = `${'x'.repeat(5000)}\n-code AbC+/= -----BEGIN PRIVATE KEY-----\nabc`;
    const tail = outputTail(long);
    expect(tail.length).toBeLessThanOrEqual(1503);
    expect(tail).toMatch(/^\.\.\./);
    expect(tail).toContain('-code [redacted]');
    expect(tail).toContain('[private key]');
    expect(tail).not.toContain('abc');
  });
});
