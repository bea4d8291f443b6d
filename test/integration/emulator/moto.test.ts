import { spawn } from 'node:child_process';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { isErrorNamed } from '../../../functions/shared/errors.js';
import { startMoto } from '../../../local/emulator/moto.js';
import { waitFor } from '../../../local/emulator/net.js';
import { TEST_REGION } from '../../helpers/emulator.js';

const answers = (url: string) =>
  fetch(`${url}/moto-api/data.json`).then(
    (res) => res.ok,
    () => false,
  );

describe('moto server', () => {
  it('forgets everything on reset, as a fresh server would', async () => {
    const moto = await startMoto();
    try {
      const ssm = new SSMClient({
        region: TEST_REGION,
        endpoint: moto.url,
        credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      });
      await ssm.send(new PutParameterCommand({ Name: '/kept/until-reset', Value: 'v', Type: 'String' }));
      await moto.reset();
      const lost = await ssm.send(new GetParameterCommand({ Name: '/kept/until-reset' })).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(isErrorNamed(lost, 'ParameterNotFound')).toBe(true);
    } finally {
      await moto.stop();
    }
    expect(await answers(moto.url)).toBe(false);
  });

  it('ends by itself when the process that started it is killed outright', async () => {
    // A Node process starts moto, prints its URL, and is then SIGKILLed: no stop() ever runs.
    const script = `import { startMoto } from './local/emulator/moto.ts';
      const moto = await startMoto(); console.log(moto.url); setInterval(() => {}, 1000);`;
    const parent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: new URL('../../../', import.meta.url),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const url = await new Promise<string>((resolve, reject) => {
      parent.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString().trim()));
      parent.once('exit', (code) => reject(new Error(`the parent exited with ${code} before moto answered`)));
    });
    expect(await answers(url)).toBe(true);
    parent.kill('SIGKILL');
    await waitFor(async () => !(await answers(url)), {
      timeoutMs: 10_000,
      intervalMs: 100,
      what: 'moto to end after its parent was killed',
    });
  });
});
