import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { inputLine } from '../../../functions/register-agents/task.js';
import { registrationScript } from '../../../functions/register-agents/script.js';
import { BUNDLE_OPTIONS } from '../../../esbuild.config.mjs';
import { filesIn, runHostScript } from '../../helpers/host-script.js';

const SCRIPT_PATH = fileURLToPath(
  new URL('../../../functions/register-agents/register-agents.sh', import.meta.url),
);
const script = readFileSync(SCRIPT_PATH, 'utf8');

const KEY = '-----BEGIN RSA PRIVATE KEY-----\nMIIEsecretkeymaterial\n-----END RSA PRIVATE KEY-----';
const PARAMS = {
  '/session-lab/demo/key-pair/private-key': KEY,
  '/session-lab/demo/activation/Dev/code': 'DevCodeAbc123+/xyz=',
  '/session-lab/demo/activation/Prod/code': 'ProdCodeDef456+/uvw=',
};
const SECRETS = Object.values(PARAMS).flatMap((v) => [
  v,
  ...v.split('\n').filter((l) => !l.startsWith('-----')),
]);
const HOSTS = [
  'DevOnPrem,172.31.1.13,11111111-1111-4111-8111-111111111111,/session-lab/demo/activation/Dev/code',
  'ProdOnPrem,172.31.1.12,22222222-2222-4222-8222-222222222222,/session-lab/demo/activation/Prod/code',
];

/** The command as the agent writes it for AWS-RunShellScript: the input line, then the script. */
const command = (hosts = HOSTS) =>
  [inputLine('us-east-1', '/session-lab/demo/key-pair/private-key', hosts), script].join('\n');
const run = (options: Partial<Parameters<typeof runHostScript>[1]> = {}, hosts = HOSTS) =>
  runHostScript(command(hosts), { params: PARAMS, env: { SSH_RETRY_SECONDS: '0' }, ...options });

describe('register-agents.sh', () => {
  it('keeps to the contract: bash, strict mode, never tracing', () => {
    expect(script.startsWith('#!/usr/bin/env bash\n')).toBe(true);
    expect(script).toMatch(/^set -euo pipefail$/m);
    expect(script).not.toMatch(/set -[a-z]*x|set -o xtrace|bash -x/);
  });

  it('registers every host over ssh with the stored key and code, printing only REGISTERED lines', () => {
    const result = run();
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(/^REGISTERED DevOnPrem mi-[0-9a-f]{17}$/),
      expect.stringMatching(/^REGISTERED ProdOnPrem mi-[0-9a-f]{17}$/),
    ]);
    for (const [ip, env, id] of [
      ['172.31.1.13', 'Dev', '11111111-1111-4111-8111-111111111111'],
      ['172.31.1.12', 'Prod', '22222222-2222-4222-8222-222222222222'],
    ] as const) {
      const args = readFileSync(join(result.logDir, `${ip}.args`), 'utf8');
      expect(args).toContain(`-i ${join(result.tmpDir)}`);
      expect(args).toContain(
        `-o StrictHostKeyChecking=no -o BatchMode=yes -o ConnectTimeout=10 ec2-user@${ip} sudo bash -s`,
      );
      for (const secret of SECRETS) expect(args).not.toContain(secret);
      expect(readFileSync(join(result.logDir, `${ip}.keymode`), 'utf8').trim()).toBe('600');
      expect(readFileSync(join(result.logDir, `${ip}.key`), 'utf8').trim()).toBe(KEY);
      expect(readFileSync(join(result.logDir, `${ip}.stdin`), 'utf8')).toBe(
        [
          'set -euo pipefail',
          'systemctl stop amazon-ssm-agent',
          `amazon-ssm-agent -register -code "${PARAMS[`/session-lab/demo/activation/${env}/code`]}" -id "${id}" -region "us-east-1" -y`,
          'systemctl start amazon-ssm-agent',
          '',
        ].join('\n'),
      );
    }
    const aws = readFileSync(join(result.logDir, 'aws.log'), 'utf8');
    expect(aws).toContain(
      'aws ssm get-parameter --name /session-lab/demo/activation/Prod/code --with-decryption --query Parameter.Value --output text --region us-east-1',
    );
    // The key file is gone once the script ends.
    expect(filesIn(result.tmpDir)).toEqual([]);
  });

  it('never prints a secret, even when a host fails; the other hosts are still registered', () => {
    const result = run({ failing: ['172.31.1.13'] });
    expect(result.status).toBe(1);
    expect(result.stdout).toMatch(/^REGISTERED ProdOnPrem mi-/m);
    expect(result.stdout).not.toContain('DevOnPrem');
    expect(result.stderr).toContain('FAILED DevOnPrem: registration on 172.31.1.13 exited with 1');
    for (const secret of SECRETS) {
      expect(result.stdout).not.toContain(secret);
      expect(result.stderr).not.toContain(secret);
    }
    expect(filesIn(result.tmpDir)).toEqual([]);
  });

  it('retries a host whose sshd is not up yet, then gives up naming it', () => {
    const result = run({ unreachable: ['172.31.1.12'], env: { SSH_RETRY_SECONDS: '0', SSH_ATTEMPTS: '3' } });
    expect(result.status).toBe(1);
    expect(readFileSync(join(result.logDir, '172.31.1.12.args'), 'utf8').trim().split('\n')).toHaveLength(3);
    expect(result.stderr).toContain('FAILED ProdOnPrem: registration on 172.31.1.12 exited with 255');
    expect(result.stdout).toMatch(/^REGISTERED DevOnPrem mi-/m);
  });

  it('a missing code parameter fails that host without reaching it', () => {
    const { ['/session-lab/demo/activation/Dev/code']: _gone, ...params } = PARAMS;
    const result = run({ params });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('FAILED DevOnPrem: cannot read the activation code parameter');
    expect(existsSync(join(result.logDir, '172.31.1.13.args'))).toBe(false);
  });

  it('a value that is not an activation code never reaches a command line', () => {
    const result = run({ params: { ...PARAMS, '/session-lab/demo/activation/Dev/code': 'x"; rm -rf / #' } });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(
      'FAILED DevOnPrem: the value of /session-lab/demo/activation/Dev/code is not an activation code',
    );
    expect(existsSync(join(result.logDir, '172.31.1.13.stdin'))).toBe(false);
  });

  it('with no host left to register it succeeds doing nothing', () => {
    const result = run({}, []);
    expect(result).toMatchObject({ status: 0, stdout: '', stderr: '' });
  });

  it('fails early without its inputs', () => {
    const result = runHostScript(script, { params: PARAMS });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('REGION is required');
  });
});

describe('registrationScript', () => {
  it('reads the script beside the module under jest', async () => {
    await expect(registrationScript()).resolves.toBe(script);
  });

  it('loads the same under tsx (the local runner and the CLI)', () => {
    const module = fileURLToPath(new URL('../../../functions/register-agents/script.ts', import.meta.url));
    const out = execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `const { registrationScript } = await import(${JSON.stringify(pathToFileURL(module).href)});
         process.stdout.write(await registrationScript());`,
      ],
      { encoding: 'utf8' },
    );
    expect(out).toBe(script);
  });

  it('is inlined by the Lambda bundle (esbuild .sh text loader), with no file beside the bundle', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'session-lab-bundle-'));
    try {
      const entry = join(dir, 'entry.ts');
      writeFileSync(
        entry,
        `export { registrationScript } from ${JSON.stringify(fileURLToPath(new URL('../../../functions/register-agents/script.ts', import.meta.url)))};\n`,
      );
      const outfile = join(dir, 'out', 'index.mjs');
      await build({ ...BUNDLE_OPTIONS, entryPoints: [entry], outfile, logLevel: 'error' });
      expect(filesIn(join(dir, 'out')).filter((f) => f.endsWith('.sh'))).toEqual([]);
      const bundled = (await import(pathToFileURL(outfile).href)) as {
        registrationScript: () => Promise<string>;
      };
      await expect(bundled.registrationScript()).resolves.toBe(script);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
