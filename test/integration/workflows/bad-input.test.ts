import {
  DescribeInstancesCommand,
  DescribeKeyPairsCommand,
  DescribeSecurityGroupsCommand,
} from '@aws-sdk/client-ec2';
import { DescribeLogGroupsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { ListPoliciesCommand, ListRolesCommand, ListUsersCommand } from '@aws-sdk/client-iam';
import { ListSecretsCommand } from '@aws-sdk/client-secrets-manager';
import { DescribeActivationsCommand, DescribeParametersCommand } from '@aws-sdk/client-ssm';
import { jest } from '@jest/globals';
import { main } from '../../../cli/index.js';
import { labClients } from '../../../functions/shared/clients.js';
import { runLocally } from '../../../local/runner/runner.js';
import type { LocalRunOutcome } from '../../../local/serve/local-starter.js';
import { startServing, type HostingServing } from '../../../local/serve/serve.js';
import { runCli, type CliResult } from '../../helpers/cli.js';
import { lambdaServiceFor } from '../../../local/runner/lambda-service.js';
import { LOCAL_REGISTRY_TABLE } from '../../../local/serve/registry-table.js';
import { TEST_REGION, useEmulator } from '../../helpers/emulator.js';
import { BOOKKEEPING_FUNCTIONS, workflowSteps } from '../../helpers/steps.js';

/**
 * Malformed input at each of the product's edges (the provision workflow's input, the portal API's
 * bodies, paths and query strings, the CLI's flags) is refused before anything is created, with an
 * error that names the offending field (or flag). "Nothing created" is checked on everything the
 * account holds: a snapshot of every resource kind a lab creates, and the lab registry, compared
 * before and after the whole table.
 */

/** The registry the deployed route functions write (their template environment's). */
const TABLE = LOCAL_REGISTRY_TABLE;

/** Every resource kind a lab could create, counted account-wide (no lab filter to get wrong). */
async function accountSnapshot() {
  const c = labClients();
  const [instances, groups, keys, users, roles, policies, activations, parameters, secrets, logs, registry] =
    await Promise.all([
      c.ec2.send(new DescribeInstancesCommand({})),
      c.ec2.send(new DescribeSecurityGroupsCommand({})),
      c.ec2.send(new DescribeKeyPairsCommand({})),
      c.iam.send(new ListUsersCommand({})),
      c.iam.send(new ListRolesCommand({})),
      c.iam.send(new ListPoliciesCommand({ Scope: 'Local' })),
      c.ssm.send(new DescribeActivationsCommand({})),
      c.ssm.send(new DescribeParametersCommand({ MaxResults: 50 })),
      c.secrets.send(new ListSecretsCommand({})),
      c.logs.send(new DescribeLogGroupsCommand({})),
      c.dynamodb.send(new ScanCommand({ TableName: TABLE })),
    ]);
  return {
    instances: (instances.Reservations ?? []).flatMap((r) => r.Instances ?? []).length,
    securityGroups: (groups.SecurityGroups ?? []).filter((g) => g.GroupName !== 'default').length,
    keyPairs: keys.KeyPairs?.length ?? 0,
    users: users.Users?.length ?? 0,
    roles: roles.Roles?.length ?? 0,
    policies: policies.Policies?.length ?? 0,
    activations: activations.ActivationList?.length ?? 0,
    parameters: parameters.Parameters?.length ?? 0,
    secrets: secrets.SecretList?.length ?? 0,
    logGroups: logs.logGroups?.length ?? 0,
    registryItems: registry.Count ?? 0,
  };
}

const INJECTION = {
  shell: 'demo; rm -rf /',
  path: '../etc',
  html: '<script>alert(1)</script>',
  subshell: '$(reboot)',
  sql: "x' OR '1'='1",
};

/** Provision workflow inputs: refused in `Validate lab input`, naming `field`. */
const STATE_MACHINE_CASES: { name: string; input: unknown; field: string; executionName?: string }[] = [
  { name: 'labId missing', input: {}, field: 'labId' },
  { name: 'labId a number', input: { labId: 42 }, field: 'labId' },
  { name: 'labId with a shell command', input: { labId: INJECTION.shell }, field: 'labId' },
  { name: 'labId a relative path', input: { labId: INJECTION.path }, field: 'labId' },
  { name: 'labId with markup', input: { labId: INJECTION.html }, field: 'labId' },
  { name: 'labId too long', input: { labId: 'a'.repeat(33) }, field: 'labId' },
  { name: 'labId in capitals', input: { labId: 'Bad_Lab' }, field: 'labId' },
  { name: 'unknown field', input: { labId: 'sm-unknown', colour: 'red' }, field: 'colour' },
  {
    name: 'policyMode not an option',
    input: { labId: 'sm-policy', policyMode: 'admin' },
    field: 'policyMode',
  },
  { name: 'instanceType a number', input: { labId: 'sm-type', instanceType: 7 }, field: 'instanceType' },
  {
    name: 'instanceType with a command',
    input: { labId: 'sm-type-cmd', instanceType: 't3.micro; reboot' },
    field: 'instanceType',
  },
  {
    name: 'logGroupName under aws/',
    input: { labId: 'sm-logs', logGroupName: 'aws/x' },
    field: 'logGroupName',
  },
  {
    name: 'logRetentionDays not a period',
    input: { labId: 'sm-retention', logRetentionDays: 2 },
    field: 'logRetentionDays',
  },
  {
    name: 'idleSessionTimeoutMinutes a string',
    input: { labId: 'sm-idle', idleSessionTimeoutMinutes: '20' },
    field: 'idleSessionTimeoutMinutes',
  },
  {
    name: 'runAsUser with a subshell',
    input: { labId: 'sm-runas', runAsUser: INJECTION.subshell },
    field: 'runAsUser',
  },
  { name: 'vpcId not an id', input: { labId: 'sm-vpc', vpcId: 'vpc-../../' }, field: 'vpcId' },
  { name: 'owner with markup', input: { labId: 'sm-owner', owner: INJECTION.html }, field: 'owner' },
  { name: 'owner too long', input: { labId: 'sm-owner-long', owner: 'o'.repeat(129) }, field: 'owner' },
  {
    name: 'activationExpiryHours beyond 1 hour',
    input: { labId: 'sm-expiry', activationExpiryHours: 2 },
    field: 'activationExpiryHours',
  },
  { name: 'input an array', input: ['demo'], field: 'input' },
  { name: 'input a string', input: 'demo', field: 'input' },
  {
    name: 'execution name with a shell separator',
    input: { labId: 'sm-run' },
    executionName: 'run;reboot',
    field: 'runId',
  },
];

/** Portal API requests: 400 naming `field`. */
const API_CASES: {
  name: string;
  method: string;
  path: string;
  body?: string | object;
  headers?: Record<string, string>;
  field: string;
}[] = [
  { name: 'body not JSON', method: 'POST', path: '/labs', body: '{"labId": ', field: 'body' },
  { name: 'body an array', method: 'POST', path: '/labs', body: '["api-a"]', field: 'body' },
  { name: 'labId a number', method: 'POST', path: '/labs', body: { labId: 5 }, field: 'labId' },
  {
    name: 'labId with a shell command',
    method: 'POST',
    path: '/labs',
    body: { labId: INJECTION.shell },
    field: 'labId',
  },
  {
    name: 'labId with markup',
    method: 'POST',
    path: '/labs',
    body: { labId: INJECTION.html },
    field: 'labId',
  },
  {
    name: 'labId SQL-looking',
    method: 'POST',
    path: '/labs',
    body: { labId: INJECTION.sql },
    field: 'labId',
  },
  {
    name: 'unknown field',
    method: 'POST',
    path: '/labs',
    body: { labId: 'api-b', isAdmin: true },
    field: 'isAdmin',
  },
  {
    name: 'owner too long',
    method: 'POST',
    path: '/labs',
    body: { labId: 'api-c', owner: 'o'.repeat(200) },
    field: 'owner',
  },
  {
    name: 'oversized body',
    method: 'POST',
    path: '/labs',
    body: { labId: 'api-d', owner: 'x'.repeat(70_000) },
    field: 'body',
  },
  {
    name: 'nightlyReset a string',
    method: 'POST',
    path: '/labs',
    body: { labId: 'api-e', nightlyReset: 'yes' },
    field: 'nightlyReset',
  },
  {
    name: 'expiresInHours negative',
    method: 'POST',
    path: '/labs',
    body: { labId: 'api-f', expiresInHours: -1 },
    field: 'expiresInHours',
  },
  {
    name: 'Idempotency-Key with markup',
    method: 'POST',
    path: '/labs',
    body: { labId: 'api-g' },
    headers: { 'Idempotency-Key': INJECTION.html },
    field: 'Idempotency-Key',
  },
  { name: 'path lab id with capitals', method: 'GET', path: '/labs/Not_A_Lab', field: 'labId' },
  { name: 'path lab id a traversal', method: 'GET', path: '/labs/..%2Fetc', field: 'labId' },
  {
    name: 'path lab id with markup',
    method: 'DELETE',
    path: `/labs/${encodeURIComponent(INJECTION.html)}`,
    field: 'labId',
  },
  {
    name: 'path lab id with a shell command',
    method: 'POST',
    path: `/labs/${encodeURIComponent(INJECTION.shell)}/reset`,
    field: 'labId',
  },
  {
    name: 'reset with an unknown body field',
    method: 'POST',
    path: '/labs/api-h/reset',
    body: { force: true },
    field: 'force',
  },
  { name: 'query limit not a number', method: 'GET', path: '/labs?limit=ten', field: 'limit' },
  { name: 'query limit too large', method: 'GET', path: '/labs?limit=500', field: 'limit' },
  { name: 'query unknown parameter', method: 'GET', path: '/labs?colour=red', field: 'colour' },
  {
    name: 'query forged page token',
    method: 'GET',
    path: '/labs?nextToken=eyJwayI6ImFkbWluIn0',
    field: 'nextToken',
  },
  { name: 'query status not a status', method: 'GET', path: '/labs?status=pwned', field: 'status' },
  {
    name: 'class count zero',
    method: 'POST',
    path: '/classes',
    body: { classId: 'cls', count: 0 },
    field: 'count',
  },
  {
    name: 'class count a string',
    method: 'POST',
    path: '/classes',
    body: { classId: 'cls', count: 'ten' },
    field: 'count',
  },
  {
    name: 'classId with a traversal',
    method: 'POST',
    path: '/classes',
    body: { classId: INJECTION.path, count: 2 },
    field: 'classId',
  },
  {
    name: 'class options with an unknown field',
    method: 'POST',
    path: '/classes',
    body: { classId: 'cls', count: 2, options: { labId: 'x' } },
    field: 'options.labId',
  },
];

/** CLI invocations: exit 2, the error names `flag`. */
const CLI_CASES: { name: string; args: string[]; flag: string }[] = [
  { name: 'lab id with a shell command', args: ['provision', '--lab-id', INJECTION.shell], flag: '--lab-id' },
  { name: 'lab id a traversal', args: ['provision', '--lab-id', INJECTION.path], flag: '--lab-id' },
  { name: 'lab id with markup (teardown)', args: ['teardown', '--lab-id', INJECTION.html], flag: '--lab-id' },
  {
    name: 'lab id with a subshell (status)',
    args: ['status', '--lab-id', INJECTION.subshell],
    flag: '--lab-id',
  },
  { name: 'lab id too long', args: ['provision', '--lab-id', 'a'.repeat(40)], flag: '--lab-id' },
  {
    name: 'policy mode not a choice',
    args: ['provision', '--lab-id', 'cli-a', '--policy-mode', 'admin'],
    flag: '--policy-mode',
  },
  {
    name: 'instance type with a command',
    args: ['provision', '--lab-id', 'cli-b', '--instance-type', 't3.micro;reboot'],
    flag: '--instance-type',
  },
  {
    name: 'retention days not a number',
    args: ['provision', '--lab-id', 'cli-c', '--log-retention-days', '7x'],
    flag: '--log-retention-days',
  },
  {
    name: 'retention days not a period',
    args: ['provision', '--lab-id', 'cli-d', '--log-retention-days', '2'],
    flag: '--log-retention-days',
  },
  {
    name: 'owner with markup',
    args: ['provision', '--lab-id', 'cli-e', '--owner', INJECTION.html],
    flag: '--owner',
  },
  { name: 'unknown flag', args: ['provision', '--lab-id', 'cli-f', '--colour', 'red'], flag: '--colour' },
  {
    name: 'time scale out of range',
    args: ['reset', '--lab-id', 'cli-g', '--time-scale', '5'],
    flag: '--time-scale',
  },
  {
    name: 'state machine ARN not an ARN',
    args: ['provision', '--lab-id', 'cli-h', '--state-machine-arn', 'arn:aws:iam::x'],
    flag: '--state-machine-arn',
  },
];

describe('bad input at every edge is refused naming the field, before anything is created', () => {
  const emulator = useEmulator({ time: { scale: 0.05 } });
  let serving: HostingServing;
  const started: string[] = [];
  let before: Awaited<ReturnType<typeof accountSnapshot>>;

  beforeAll(async () => {
    serving = await startServing({
      port: 0,
      emulator: emulator(),
      // Any workflow the API starts is recorded (none should be, until the control request).
      run: async (name, input): Promise<LocalRunOutcome> => {
        started.push(`${name} ${JSON.stringify(input)}`);
        return { status: 'FAILED', error: 'NotRun', cause: 'the bad-input test runs no workflow' };
      },
    });
    // The stack's own roles are deployed first: they are the product, not something a lab made.
    await lambdaServiceFor(emulator().url, TEST_REGION);
    before = await accountSnapshot();
  });
  afterAll(async () => {
    await serving?.starter.idle();
    await serving?.stop();
  });

  it('has at least 30 cases across the three edges', () => {
    expect(STATE_MACHINE_CASES.length + API_CASES.length + CLI_CASES.length).toBeGreaterThanOrEqual(30);
  });

  it('the provision workflow refuses each in its first state, naming the field', async () => {
    const runs = await Promise.all(
      STATE_MACHINE_CASES.map((c, i) =>
        runLocally('provision-lab', {
          input: c.input,
          executionName: c.executionName ?? `bad-input-${i}`,
          timeScale: 0.05,
        }),
      ),
    );
    const steps = workflowSteps('provision-lab');
    const seen = runs.map((run, i) => {
      // The steps that ran, but for bookkeeping (recording the refusal creates nothing).
      const tasks = new Set(
        run.events
          .filter((e) => e.type === 'StateEntered' && e.stateType === 'Task')
          .filter((e) => e.state === 'Validate lab input' || !BOOKKEEPING_FUNCTIONS.has(steps.get(e.state!)!))
          .map((e) => e.state),
      );
      const cause = JSON.parse(run.cause ?? '{}') as { errorMessage?: string };
      return {
        name: STATE_MACHINE_CASES[i]!.name,
        status: run.status,
        error: run.error,
        field: cause.errorMessage?.split(':')[0],
        tasks: [...tasks],
      };
    });
    expect(seen).toEqual(
      STATE_MACHINE_CASES.map((c) => ({
        name: c.name,
        status: 'FAILED',
        error: 'Validate lab input failed: InvalidLabInput',
        field: c.field,
        tasks: ['Validate lab input'],
      })),
    );
  });

  it('the API answers each with 400 and the field', async () => {
    const replies = await Promise.all(
      API_CASES.map(async (c) => {
        const response = await fetch(`${serving.url}${c.path}`, {
          method: c.method,
          headers: { 'content-type': 'application/json', ...c.headers },
          body:
            c.body === undefined ? undefined : typeof c.body === 'string' ? c.body : JSON.stringify(c.body),
        });
        const body = (await response.json()) as { code?: string; field?: string; message?: string };
        return { name: c.name, status: response.status, code: body.code, field: body.field };
      }),
    );
    expect(replies).toEqual(
      API_CASES.map((c) => ({ name: c.name, status: 400, code: 'InvalidRequest', field: c.field })),
    );
  });

  it('the CLI exits 2 on each, naming the flag', async () => {
    // A few as a person runs them (their own process: the real exit code), the rest in-process.
    const env = {
      AWS_ENDPOINT_URL: emulator().url,
      AWS_REGION: TEST_REGION,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
    };
    const spawned = new Set([0, 5, 10]);
    const inProcess = async (args: string[]): Promise<CliResult> => {
      let stderr = '';
      let stdout = '';
      const write = (chunk: unknown) => ((stderr += String(chunk)), true);
      const errors = jest.spyOn(process.stderr, 'write').mockImplementation(write);
      const logs = jest
        .spyOn(console, 'log')
        .mockImplementation((line: unknown) => void (stdout += `${line}\n`));
      const errs = jest
        .spyOn(console, 'error')
        .mockImplementation((line: unknown) => void write(`${line}\n`));
      try {
        await main(['node', 'session-lab', ...args]);
        return { code: typeof process.exitCode === 'number' ? process.exitCode : 0, stdout, stderr };
      } finally {
        process.exitCode = undefined;
        errors.mockRestore();
        logs.mockRestore();
        errs.mockRestore();
      }
    };
    const results: CliResult[] = [];
    const children = Promise.all(
      CLI_CASES.map((c, i) => (spawned.has(i) ? runCli(c.args, env, 60_000) : undefined)),
    );
    for (const c of CLI_CASES) results.push(await inProcess(c.args));
    (await children).forEach((child, i) => {
      if (child) results[i] = child;
    });
    expect(
      results.map((r, i) => ({
        name: CLI_CASES[i]!.name,
        code: r.code,
        namesFlag: r.stderr.includes(CLI_CASES[i]!.flag),
        stdout: r.stdout,
      })),
    ).toEqual(CLI_CASES.map((c) => ({ name: c.name, code: 2, namesFlag: true, stdout: '' })));
  }, 120_000);

  it('created nothing: the account and the registry are as before, no workflow was started', async () => {
    expect(await accountSnapshot()).toEqual(before);
    expect(started).toEqual([]);
    await expect(serving.registry.labs.listLabs({}, { limit: 100 })).resolves.toMatchObject({ labs: [] });
  });

  it('while a well-formed request does create (the check above can see it)', async () => {
    const response = await fetch(`${serving.url}/labs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ labId: 'api-ok' }),
    });
    expect(response.status).toBe(202);
    await serving.starter.idle();
    expect(started).toHaveLength(1);
    expect(started[0]).toMatch(/^provision-lab .*"labId":"api-ok"/);
    expect((await accountSnapshot()).registryItems).toBeGreaterThan(before.registryItems);
  });
});
