import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Runs a script for real as a simulated host: bash in a fresh scratch directory that is removed
 * afterwards, with the simulated system commands (aws, ssh, sudo, systemctl, amazon-ssm-agent,
 * yum/dnf, whoami) first on PATH. The commands find their host and the emulator through the
 * SESSION_LAB_* variables, so a script behaves as it would on that host.
 */

/** The folder of simulated commands put first on a host's PATH. */
export const HOST_COMMANDS_DIR = fileURLToPath(new URL('../host-commands/', import.meta.url));

/** Output kept per stream; AWS returns far less (24,000/8,000 chars) and a runaway loop must not exhaust memory. */
const MAX_CAPTURE = 1 << 20;

/** Live scripts by emulator endpoint, so stopping an emulator leaves no host process behind. */
const running = new Map<string, Set<() => void>>();

/** Kills every script still running for the emulator at `emulatorUrl` (its stop() calls this). */
export function killHostProcesses(emulatorUrl: string): void {
  for (const kill of running.get(emulatorUrl) ?? []) kill();
}

export interface HostRunOptions {
  emulatorUrl: string;
  region: string;
  hostInstanceId: string;
  script: string;
  /** What `whoami` prints; `sudo` switches it to root. */
  osUser?: string;
  /** Real milliseconds before the script's process group is killed. */
  timeoutMs?: number;
  /** A directory inside the scratch root to run in (Run Command's workingDirectory). */
  workingDirectory?: string;
  stdin?: string;
}

export interface HostRunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** True when the timeout killed the script (its exitCode is then -1). */
  timedOut: boolean;
}

export function hostEnvironment(options: {
  emulatorUrl: string;
  region: string;
  hostInstanceId: string;
  osUser: string;
  home: string;
  /** The script this environment runs (`HOST_SCRIPT_HEADER`), when it runs one. */
  scriptId?: string;
}): NodeJS.ProcessEnv {
  // Only what a host would have plus our locators: the emulator's own AWS_* settings must not leak
  // into the host, or `aws` on the host would look configured when the real host is not.
  const systemPath = process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin';
  return {
    PATH: [HOST_COMMANDS_DIR, dirname(process.execPath), systemPath].join(':'),
    HOME: options.home,
    LANG: process.env.LANG ?? 'C.UTF-8',
    TMPDIR: options.home,
    SESSION_LAB_HOST_INSTANCE_ID: options.hostInstanceId,
    SESSION_LAB_HOST_REGION: options.region,
    SESSION_LAB_EMULATOR_URL: options.emulatorUrl,
    SESSION_LAB_OS_USER: options.osUser,
    SESSION_LAB_HOST_COMMANDS: HOST_COMMANDS_DIR,
    ...(options.scriptId ? { SESSION_LAB_HOST_SCRIPT: options.scriptId } : {}),
  };
}

function capture(stream: NodeJS.ReadableStream | null): () => string {
  const chunks: Buffer[] = [];
  let size = 0;
  stream?.on('data', (chunk: Buffer) => {
    if (size >= MAX_CAPTURE) return;
    chunks.push(chunk);
    size += chunk.length;
  });
  return () => Buffer.concat(chunks).toString('utf8').slice(0, MAX_CAPTURE);
}

/**
 * The header a simulated host's `aws` puts on its requests (from SESSION_LAB_HOST_SCRIPT, which ssh
 * passes on to the commands it runs on another host): the script they belong to. It is a local
 * locator like the other SESSION_LAB_* variables, not something AWS sees, and only says when a
 * script is waiting on the emulator.
 */
export const HOST_SCRIPT_HEADER = 'x-session-lab-host-script';

/** Scripts started and not yet finished in this process, by id: their requests in a modelled wait. */
const scripts = new Map<string, { waiting: number }>();

/** Scripts started and not yet finished, in this process. */
export const activeHostScripts = (): number => scripts.size;

/**
 * Scripts doing real work: running, with none of their requests in a modelled wait of the emulator
 * (a call's latency). The bench's virtual clock does not jump while one is: a script whose `aws`
 * waits on its call's latency waits on the clock itself, so counting it as work would stop the
 * clock for good. A script whose request waits counts as waiting as a whole, although another of
 * its processes may be computing meanwhile (registering two hosts side by side): the clock may then
 * jump over that compute, which starts that branch's next call up to one latency late.
 */
export const busyHostScripts = (): number => {
  let busy = 0;
  for (const script of scripts.values()) if (script.waiting === 0) busy += 1;
  return busy;
};

/** Runs `wait` (a modelled wait of a request of the script `scriptId`, if any) with the script counted as waiting. */
export async function hostScriptWaiting<T>(scriptId: string | undefined, wait: () => Promise<T>): Promise<T> {
  const script = scriptId ? scripts.get(scriptId) : undefined;
  if (script) script.waiting += 1;
  try {
    return await wait();
  } finally {
    if (script) script.waiting -= 1;
  }
}

export async function execOnHost(options: HostRunOptions): Promise<HostRunResult> {
  const scriptId = randomUUID();
  scripts.set(scriptId, { waiting: 0 });
  try {
    return await runOnHost(options, scriptId);
  } finally {
    scripts.delete(scriptId);
  }
}

async function runOnHost(options: HostRunOptions, scriptId: string): Promise<HostRunResult> {
  const root = await mkdtemp(join(tmpdir(), `session-lab-host-${options.hostInstanceId}-`));
  try {
    const scriptPath = join(root, '_script.sh');
    await writeFile(scriptPath, options.script, { mode: 0o700 });
    // The host's filesystem is the scratch root: an absolute working directory lands inside it.
    const cwd = options.workingDirectory
      ? join(root, 'fs', options.workingDirectory.replace(/^\/+/, ''))
      : join(root, 'fs');
    await mkdir(cwd, { recursive: true });
    const child = spawn('bash', [scriptPath], {
      cwd,
      env: hostEnvironment({
        emulatorUrl: options.emulatorUrl,
        region: options.region,
        hostInstanceId: options.hostInstanceId,
        osUser: options.osUser ?? 'root',
        home: cwd,
        scriptId,
      }),
      stdio: ['pipe', 'pipe', 'pipe'],
      // Its own process group, so a timeout kills everything the script started (ssh, sleeps).
      detached: true,
    });
    const stdout = capture(child.stdout);
    const stderr = capture(child.stderr);
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.stdin ?? '');
    let timedOut = false;
    const killGroup = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const live = running.get(options.emulatorUrl) ?? new Set();
    running.set(options.emulatorUrl, live.add(killGroup));
    const timer =
      options.timeoutMs !== undefined
        ? setTimeout(() => {
            timedOut = true;
            killGroup();
          }, options.timeoutMs)
        : undefined;
    const closed = new Promise((resolve) => child.once('close', resolve));
    const exitCode = await new Promise<number>((resolve) => {
      child.once('error', () => resolve(127));
      child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
    });
    clearTimeout(timer);
    // Background jobs the script left behind die with it, as when the agent's process ends; then the
    // pipes close and the output is complete.
    killGroup();
    live.delete(killGroup);
    await closed;
    return { exitCode: timedOut ? -1 : exitCode, stdout: stdout(), stderr: stderr(), timedOut };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
