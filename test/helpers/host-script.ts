import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const STUBS = fileURLToPath(new URL('./host-stubs/', import.meta.url));

export interface HostScriptRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Where the stubs logged: `<ip>.args`, `<ip>.stdin`, `<ip>.keymode`, `<ip>.key`, `aws.log`. */
  logDir: string;
  /** The temporary directory the script ran with as TMPDIR (its key file must be gone). */
  tmpDir: string;
}

/**
 * Runs a shell script with bash as a bootstrap host would, but with test stand-ins for `aws`
 * (serving `params`, name -> value) and `ssh` (a mock host that registers and prints an mi- id)
 * first on PATH. Nothing leaves the machine.
 */
export function runHostScript(
  script: string,
  options: {
    params: Record<string, string>;
    env?: Record<string, string>;
    unreachable?: string[];
    failing?: string[];
  },
): HostScriptRun {
  const root = mkdtempSync(join(tmpdir(), 'session-lab-host-script-'));
  const paramsDir = join(root, 'params');
  const logDir = join(root, 'log');
  const tmpDir = join(root, 'tmp');
  for (const dir of [paramsDir, logDir, tmpDir]) spawnSync('mkdir', ['-p', dir]);
  for (const [name, value] of Object.entries(options.params)) {
    writeFileSync(join(paramsDir, name.replace(/\//g, '_')), `${value}\n`);
  }
  const scriptPath = join(root, '_script.sh');
  writeFileSync(scriptPath, script, { mode: 0o700 });
  const result = spawnSync('bash', [scriptPath], {
    encoding: 'utf8',
    env: {
      PATH: `${STUBS}:/usr/local/bin:/usr/bin:/bin`,
      HOME: root,
      TMPDIR: tmpDir,
      STUB_PARAMS: paramsDir,
      STUB_LOG: join(logDir, 'aws.log'),
      STUB_LOG_DIR: logDir,
      STUB_UNREACHABLE: (options.unreachable ?? []).join(' '),
      STUB_FAILING: (options.failing ?? []).join(' '),
      ...options.env,
    },
    timeout: 30_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, logDir, tmpDir };
}

/** The files a directory holds. */
export function filesIn(dir: string): string[] {
  return readdirSync(dir);
}
