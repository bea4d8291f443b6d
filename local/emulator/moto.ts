import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { freePort, waitFor } from './net.js';

/**
 * moto builds a service's backend on its first request in a Region: about 3 s for IAM (the AWS
 * managed policies), 4 s for EC2 (AMIs, default VPC) on this machine, one after the other. Asking
 * for them in the background as soon as moto answers overlaps that with the caller's own start-up
 * (importing the task modules), instead of with a lab's first steps. Failures are ignored: the
 * real request will report them.
 */
export function warmMoto(url: string, region: string): void {
  const call = (service: string, body: string, headers: Record<string, string>) =>
    fetch(`${url}/`, {
      method: 'POST',
      headers: {
        authorization: `AWS4-HMAC-SHA256 Credential=warmup/20260101/${region}/${service}/aws4_request, SignedHeaders=host, Signature=0`,
        ...headers,
      },
      body,
    })
      .then((res) => res.arrayBuffer())
      .catch(() => undefined);
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  void call('iam', 'Action=ListRoles&Version=2010-05-08', form);
  void call('ec2', 'Action=DescribeVpcs&Version=2016-11-15', form);
}

export interface MotoServer {
  url: string;
  /** Empties every service's state (moto's /moto-api/reset), as a fresh server would be. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Fails at once, saying what to install, when Python 3 or moto's server is missing. Importing moto's
 * server costs about a second of CPU, so this runs only to explain a server that did not start.
 */
export function checkMotoInstalled(python = process.env.SESSION_LAB_PYTHON ?? 'python3'): void {
  const probe = spawnSync(python, ['-c', 'import moto.server, flask'], { encoding: 'utf8' });
  if (probe.error)
    throw new Error(`${python} not found: install Python 3 and moto's server (pip install 'moto[server]')`);
  if (probe.status !== 0)
    throw new Error(`moto's server is not installed for ${python}: pip install 'moto[server]'`);
}

/** A moto server another process started and stops (the tests' pool): reset here, never stopped. */
export function motoAt(url: string): MotoServer {
  return { url, reset: () => resetMoto(url), stop: () => Promise.resolve() };
}

async function resetMoto(url: string): Promise<void> {
  const res = await fetch(`${url}/moto-api/reset`, { method: 'POST' });
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`moto's reset answered HTTP ${res.status}`);
}

/**
 * Runs moto's server (`python -m moto.server`) with a watchdog thread that ends it when the process
 * that started it is gone, so a test runner or CLI killed outright leaves no server behind.
 *
 * It also replaces moto's lookup of an EC2 resource's tags (TaggedEC2Resource.get_tags), which scans
 * every tag of every resource in the Region, copying the table and matching a regex per tag, for
 * each resource it describes or filters: DescribeInstances by tag was quadratic, seconds per call
 * with 200 labs' instances, and held moto's one core (the 200-lab bench). The replacement reads the
 * resource's own tags from the same table and answers the same list.
 */
const MOTO_MAIN = [
  'import os, sys, threading, time, runpy',
  'from moto.ec2.models.core import TaggedEC2Resource',
  'from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix',
  'def get_tags(self):',
  '    if not self.id:',
  '        return []',
  "    kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(self.id), '')",
  '    own = self.ec2_backend.tags.get(self.id, {})',
  "    return [{'resource_id': self.id, 'key': k, 'value': v, 'resource_type': kind} for k, v in own.items()]",
  'TaggedEC2Resource.get_tags = get_tags',
  'parent = os.getppid()',
  'def watch():',
  '    while os.getppid() == parent:',
  '        time.sleep(1)',
  '    os._exit(0)',
  'threading.Thread(target=watch, daemon=True).start()',
  "sys.argv = ['moto.server'] + sys.argv[1:]",
  "runpy.run_module('moto.server', run_name='__main__', alter_sys=True)",
].join('\n');

/**
 * Starts moto's server as a child process on a free loopback port, with AWS managed policies
 * loaded (the lab attaches several), and resolves once it answers.
 */
export async function startMoto(options: { port?: number; python?: string } = {}): Promise<MotoServer> {
  const python = options.python ?? process.env.SESSION_LAB_PYTHON ?? 'python3';
  const port = options.port ?? (await freePort());
  const child: ChildProcess = spawn(python, ['-c', MOTO_MAIN, '-H', '127.0.0.1', '-p', String(port)], {
    env: { ...process.env, MOTO_IAM_LOAD_MANAGED_POLICIES: 'true' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  try {
    await Promise.race([
      waitFor(
        async () => {
          if (child.exitCode !== null)
            throw new Error(`moto exited with code ${child.exitCode}: ${stderr.trim()}`);
          const res = await fetch(`${url}/moto-api/data.json`).catch(() => undefined);
          return res?.ok === true;
        },
        { timeoutMs: 30_000, intervalMs: 100, what: `moto's server on port ${port}` },
      ),
      spawnError.then((err) => Promise.reject(err)),
    ]);
  } catch (err) {
    child.kill('SIGKILL');
    checkMotoInstalled(python); // a missing Python or moto says what to install
    throw err;
  }
  return {
    url,
    reset: () => resetMoto(url),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
