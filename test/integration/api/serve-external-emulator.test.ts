import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { freePort } from '../../../local/emulator/net.js';
import { LOCAL_STACK_NAME } from '../../../local/deployment/artifacts.js';
import { ACCOUNT_ID } from '../../../local/emulator/index.js';

/**
 * `session-lab serve` against an emulator another process runs (`session-lab emulator start`), as
 * a user with a long-lived emulator has it: serve's route bundles start workflows with
 * StartExecution on that emulator, and the emulator's process runs them.
 */
const BIN = fileURLToPath(new URL('../../../bin/session-lab.js', import.meta.url));
const CREDENTIALS = {
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
  AWS_REGION: 'us-east-1',
};

const children: ChildProcess[] = [];

/** Starts the CLI in its own process; resolves with the first stdout line matching `ready`. */
function startCli(args: string[], env: Record<string, string>, ready: RegExp): Promise<RegExpMatchArray> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const look = (chunk: Buffer) => {
      output += chunk.toString();
      const match = ready.exec(output);
      if (match) resolve(match);
    };
    child.stdout!.on('data', look);
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`session-lab ${args[0]} exited ${code}:\n${output}`)));
  });
}

afterAll(async () => {
  // Ctrl-C, as a user stops them: each stops what it started (moto included).
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGINT');
        }),
    ),
  );
});

it('starts a lab through serve whose workflow the emulator’s own process runs', async () => {
  const emulatorPort = await freePort();
  const [, emulatorUrl] = await startCli(
    ['emulator', 'start', '--port', String(emulatorPort)],
    CREDENTIALS,
    /listening on (http:\/\/\S+)/,
  );
  const [, apiUrl] = await startCli(
    ['serve', '--port', String(await freePort())],
    { ...CREDENTIALS, AWS_ENDPOINT_URL: emulatorUrl! },
    /session-lab API on (http:\/\/\S+)/,
  );

  const response = await fetch(`${apiUrl}/labs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ labId: 'external' }),
  });
  expect(response.status).toBe(202);

  const sfn = new SFNClient({
    region: 'us-east-1',
    endpoint: emulatorUrl,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
  const { executions } = await sfn.send(
    new ListExecutionsCommand({
      stateMachineArn: `arn:aws:states:us-east-1:${ACCOUNT_ID}:stateMachine:${LOCAL_STACK_NAME}-provision-lab`,
    }),
  );
  expect(executions?.map((e) => e.name)).toEqual([expect.stringMatching(/^external-g1-provision-/)]);
  // Running in the emulator's process (serve runs none): RUNNING until it ends there.
  expect(['RUNNING', 'SUCCEEDED']).toContain(executions?.[0]?.status);
  sfn.destroy();
}, 120_000);
