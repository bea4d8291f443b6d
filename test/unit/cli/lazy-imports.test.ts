import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Run in its own node, as the bin runs the CLI (tsx): records every module the loader resolves
 * while cli/index.ts is imported and each command's help is built, then prints them as JSON. A
 * customization hook sees ESM imports that Jest's own module registry would not.
 */
const PROBE = `
import { register } from 'node:module';
import { MessageChannel } from 'node:worker_threads';
import { register as registerTsx } from 'tsx/esm/api';

registerTsx();
const hooks = \`
let port;
export function initialize(data) {
  port = data.port;
  // A ping answered after every URL posted before it: the main thread knows it has them all.
  port.on('message', () => port.postMessage(null));
}
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  port.postMessage(result.url);
  return result;
}\`;
const { port1, port2 } = new MessageChannel();
const resolved = [];
register('data:text/javascript,' + encodeURIComponent(hooks), { data: { port: port2 }, transferList: [port2] });
const flushed = new Promise((done) => port1.on('message', (url) => (url === null ? done() : resolved.push(url))));
const { buildProgram } = await import(process.argv[1]);
for (const command of buildProgram().commands) command.helpInformation();
port1.postMessage('flush');
await flushed;
port1.close();
console.log(JSON.stringify(resolved));
`;

describe('the CLI registers its commands without loading their implementations', () => {
  it('imports no AWS SDK, zod, runner, emulator or task module until a command runs', () => {
    const output = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', PROBE, `${ROOT}cli/index.ts`],
      { cwd: ROOT, encoding: 'utf8' },
    );
    const paths = (JSON.parse(output) as string[])
      .filter((url) => url.startsWith('file:'))
      .map((url) => fileURLToPath(url));
    // node_modules may be a link out of the checkout: a package is known by its path's last segment.
    const packages = new Set(
      paths
        .map((path) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*\/node_modules\/)/.exec(path)?.[1])
        .filter((name) => name !== undefined),
    );
    const files = paths
      .filter((path) => path.startsWith(ROOT) && !path.includes('/node_modules/'))
      .map((path) => path.slice(ROOT.length));
    // Each of these costs tenths of a second to seconds of CPU, paid by every `--help` and usage error.
    expect([...packages]).toEqual(['commander']);
    expect(
      files.filter((file) => /^(local\/|functions\/[^/]+\/task\.ts$|cli\/target\.ts$)/.test(file)),
    ).toEqual([]);
    // The probe saw the commands load (it is not vacuous).
    expect(files).toEqual(expect.arrayContaining(['cli/index.ts', 'cli/commands/workflow.ts']));
  });
});
