import { jest } from '@jest/globals';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import {
  GetCommandInvocationCommand,
  GetParameterCommand,
  ListCommandInvocationsCommand,
  ListCommandsCommand,
} from '@aws-sdk/client-ssm';
import { labClients } from '../../../functions/shared/clients.js';
import { logger } from '../../../functions/shared/logger.js';
import { labNames } from '../../../functions/shared/names.js';
import {
  deployedHandler,
  runLocally,
  type ExecutionEvent,
  type HandlerResolver,
} from '../../../local/runner/runner.js';
import type { LocalRunOutcome } from '../../../local/serve/local-starter.js';
import { LOCAL_REGISTRY_TABLE } from '../../../local/serve/registry-table.js';
import { startServing, type HostingServing } from '../../../local/serve/serve.js';
import { runCli } from '../../helpers/cli.js';
import { TEST_REGION, useEmulator } from '../../helpers/emulator.js';

const LAB = 'secret-scan';
/** The registry the deployed functions write to (their template environment names it). */
const TABLE = LOCAL_REGISTRY_TABLE;
const SCALE = 0.05;

/** The secret values of the run, read from where the product keeps them, right after they are made. */
const secrets = { activationCodes: [] as string[], privateKey: '', password: '' };

/**
 * The real handlers; after the three steps that make a secret, the test (an administrator) reads
 * the value from Parameter Store or Secrets Manager, before anything can delete it.
 */
const capturing: HandlerResolver = async (folder) => {
  const handler = await deployedHandler(folder);
  return async (event, context) => {
    const output = (await handler(event, context)) as Record<string, unknown>;
    const { ssm, secrets: secretsManager } = labClients();
    const parameter = async (Name: string) =>
      (await ssm.send(new GetParameterCommand({ Name, WithDecryption: true }))).Parameter!.Value!;
    if (folder === 'create-activations') {
      for (const { codeParameter } of output.activations as { codeParameter: string }[])
        secrets.activationCodes.push(await parameter(codeParameter));
    }
    if (folder === 'create-key-pair')
      secrets.privateKey = await parameter(output.privateKeyParameter as string);
    if (folder === 'create-workshop-user') {
      const { SecretString } = await secretsManager.send(
        new GetSecretValueCommand({ SecretId: labNames(LAB).passwordSecret }),
      );
      secrets.password = SecretString!;
    }
    return output;
  };
};

/**
 * The secrets of one lab (its activation codes, the bootstrap private key, the workshop user's
 * password) appear nowhere a person or a log collector can see: execution events with every
 * state's and Lambda's input and output, the tasks' logs, the registry's items, the API's answers,
 * Run Command's history and output, the CLI's output. One full provision (with its verification)
 * and teardown, through the portal API, against the emulator.
 */
describe('no secret of a lab is observable during provision, verify and teardown', () => {
  const emulator = useEmulator({ time: { scale: SCALE } });
  const events: ExecutionEvent[] = [];
  const seen: { what: string; text: string }[] = [];
  const observe = (what: string, value: unknown) =>
    seen.push({ what, text: typeof value === 'string' ? value : JSON.stringify(value) });
  let logs = '';
  let serving: HostingServing;

  const api = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${serving.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    observe(`API ${method} ${path}`, text);
    return { status: response.status, body: JSON.parse(text) as Record<string, unknown> };
  };
  const registryItems = async (when: string) => {
    const { Items } = await labClients().dynamodb.send(new ScanCommand({ TableName: TABLE }));
    observe(`registry items ${when}`, Items);
    return Items ?? [];
  };
  const cli = async (args: string[]) => {
    const run = await runCli(args, {
      AWS_ENDPOINT_URL: emulator().url,
      AWS_REGION: TEST_REGION,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      REGISTRY_TABLE: TABLE,
    });
    observe(`CLI ${args.join(' ')}`, run.stdout + run.stderr);
    return run;
  };

  beforeAll(async () => {
    // The tasks' structured logs (Powertools writes JSON lines to stdout) and anything printed.
    const capture = (chunk: unknown) => {
      logs += String(chunk);
      return true;
    };
    jest.spyOn(process.stdout, 'write').mockImplementation(capture);
    // As verbose as the logs get: every level, and every invocation's event logged on entry (what
    // POWERTOOLS_LOG_LEVEL=DEBUG and POWERTOOLS_LOGGER_LOG_EVENT=true do for a deployed function).
    logger.setLogLevel('DEBUG');
    jest.spyOn(logger, 'getLogEvent').mockReturnValue(true);
    // The same for the deployed functions, which read it from their environment.
    process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
    process.env.POWERTOOLS_LOGGER_LOG_EVENT = 'true';
    for (const method of ['log', 'info', 'warn', 'debug'] as const)
      jest
        .spyOn(console, method)
        .mockImplementation((...args: unknown[]) => void capture(`${args.join(' ')}\n`));
    serving = await startServing({
      port: 0,
      emulator: emulator(),
      run: async (name, input, executionName): Promise<LocalRunOutcome> =>
        runLocally(name, {
          input,
          executionName,
          timeScale: SCALE,
          resolveHandler: capturing,
          onEvent: (event) => events.push(event),
        }),
    });
  });
  afterAll(async () => {
    await serving?.starter.idle();
    await serving?.stop();
    jest.restoreAllMocks();
    logger.setLogLevel('INFO');
  });

  it('provisions and verifies the lab through the API, keeping every secret where it belongs', async () => {
    expect((await api('POST', '/labs', { labId: LAB, owner: 'teacher' })).status).toBe(202);
    await serving.starter.idle();
    const { status, body } = await api('GET', `/labs/${LAB}`);
    expect([status, body.status, (body.report as { ok?: boolean } | null)?.ok]).toEqual([200, 'ready', true]);
    await api('GET', '/labs');
    await registryItems('after provision');

    // What was captured is real: two activation codes, a PEM key, a password.
    expect(secrets.activationCodes).toHaveLength(2);
    for (const code of secrets.activationCodes) expect(code).toMatch(/^[A-Za-z0-9+/=]{16,}$/);
    expect(secrets.privateKey).toMatch(/-----BEGIN [A-Z ]*PRIVATE KEY-----/);
    expect(secrets.password.length).toBeGreaterThanOrEqual(8);
  }, 240_000);

  it('shows Run Command history and output, and the CLI, without them', async () => {
    const { ssm } = labClients();
    const { Commands = [] } = await ssm.send(new ListCommandsCommand({}));
    observe('ListCommands', Commands);
    expect(Commands.length).toBeGreaterThan(0);
    const { CommandInvocations = [] } = await ssm.send(new ListCommandInvocationsCommand({ Details: true }));
    observe('ListCommandInvocations', CommandInvocations);
    for (const invocation of CommandInvocations) {
      observe(
        `GetCommandInvocation ${invocation.CommandId}`,
        await ssm.send(
          new GetCommandInvocationCommand({
            CommandId: invocation.CommandId!,
            InstanceId: invocation.InstanceId!,
          }),
        ),
      );
    }
    const runs = await Promise.all([
      cli(['status', '--lab-id', LAB, '--json']),
      cli(['list', '--json']),
      cli(['status', '--lab-id', LAB]),
    ]);
    expect(runs.map((run) => run.code)).toEqual([0, 0, 0]);
  }, 120_000);

  it('tears the lab down through the API', async () => {
    expect((await api('DELETE', `/labs/${LAB}`)).status).toBe(202);
    await serving.starter.idle();
    expect((await api('GET', `/labs/${LAB}`)).body.status).toBe('deleted');
    await registryItems('after teardown');
    expect((await cli(['status', '--lab-id', LAB, '--json'])).code).toBe(0);
  }, 180_000);

  it('finds none of the secrets in anything observed', () => {
    observe('execution events', events);
    observe('logs', logs);
    // The scan is not vacuous: the events hold every step's input and output, the logs the tasks'
    // lines, and the places where the secrets are kept are named (by name, never by value).
    expect(events.filter((e) => e.type === 'TaskSucceeded').length).toBeGreaterThan(20);
    expect(logs).toMatch(/"service":"session-lab"/);
    expect(logs).toMatch(/"message":"Lambda invocation event"/);
    const everything = seen.map((s) => s.text).join('\n');
    expect(everything).toContain(labNames(LAB).passwordSecret);
    expect(everything).toContain(labNames(LAB).activationCodeParameter('Dev'));

    // Each secret as written and as JSON would escape it; the key also by each line of its body.
    const keyLines = secrets.privateKey
      .split(/\r?\n/)
      .filter((line) => line.length >= 32 && !line.startsWith('-----'));
    expect(keyLines.length).toBeGreaterThan(3);
    const needles: [string, string][] = [
      ...secrets.activationCodes.map((code, i): [string, string] => [`activation code ${i + 1}`, code]),
      ['private key', secrets.privateKey],
      ['private key (JSON)', JSON.stringify(secrets.privateKey).slice(1, -1)],
      ...keyLines.map((line, i): [string, string] => [`private key line ${i + 1}`, line]),
      ['password', secrets.password],
      ['password (JSON)', JSON.stringify(secrets.password).slice(1, -1)],
    ];
    const scan = (observed: typeof seen) =>
      needles.flatMap(([secret, value]) =>
        observed.filter((s) => s.text.includes(value)).map((s) => `${secret} in ${s.what}`),
      );
    // The scanner finds a secret where there is one.
    expect(
      scan([{ what: 'a planted log line', text: JSON.stringify({ password: secrets.password }) }]),
    ).toEqual(['password in a planted log line', 'password (JSON) in a planted log line']);
    expect(scan(seen)).toEqual([]);
  });
});
