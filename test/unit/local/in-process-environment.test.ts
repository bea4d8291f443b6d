import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InProcessEnvironment } from '../../../local/runner/in-process-environment.js';
import { LambdaInvocationError } from '../../../local/runner/execution-environment.js';

/**
 * A stand-in bundle: reads its variables at load and per invocation (across an await, as a handler
 * reading its configuration after a call does), and throws a named error on request.
 */
const BUNDLE = `
const atLoad = process.env.FUNCTION_MARK;
export const handler = async (event, context) => {
  if (event.fail) {
    class NotReadyYet extends Error { name = 'NotReadyYet'; }
    throw new NotReadyYet('not yet');
  }
  await new Promise((resolve) => setImmediate(resolve));
  return { atLoad, now: process.env.FUNCTION_MARK, region: process.env.AWS_REGION,
    remaining: context.getRemainingTimeInMillis(), undefinedBecomes: undefined };
};
`;

describe('InProcessEnvironment', () => {
  let dir: string;
  let bundle: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'in-process-'));
    bundle = join(dir, 'index.mjs');
    writeFileSync(bundle, BUNDLE);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const context = (remainingMs = 3000) => ({ functionName: 'f', remainingMs });

  it('gives each environment its own variables, per invocation, and the process keeps its own', async () => {
    const before = process.env.FUNCTION_MARK;
    const a = new InProcessEnvironment(bundle, { FUNCTION_MARK: 'a', AWS_REGION: 'eu-west-1' });
    const b = new InProcessEnvironment(bundle, { FUNCTION_MARK: 'b' });
    const [fromA, fromB] = await Promise.all([
      a.invoke({}, context()).result,
      b.invoke({}, context()).result,
    ]);
    expect(fromA).toMatchObject({ now: 'a', region: 'eu-west-1' });
    expect(fromB).toMatchObject({ now: 'b' });
    // Only the function's declared variables: none of the process's leak in.
    expect((fromB as { region?: string }).region).toBeUndefined();
    expect(process.env.FUNCTION_MARK).toBe(before);
    // The result crosses as JSON, as Lambda returns it.
    expect(fromA).not.toHaveProperty('undefinedBecomes');
  });

  it('loads the same bundle as a module of its own per environment, with its variables (plain Node)', () => {
    // Jest's module loader keys modules by path alone, so this runs where the bench does: Node.
    const script = join(dir, 'two-environments.mts');
    const module = fileURLToPath(new URL('../../../local/runner/in-process-environment.ts', import.meta.url));
    writeFileSync(
      script,
      `import { InProcessEnvironment } from ${JSON.stringify(module)};
const a = new InProcessEnvironment(${JSON.stringify(bundle)}, { FUNCTION_MARK: 'a' });
const b = new InProcessEnvironment(${JSON.stringify(bundle)}, { FUNCTION_MARK: 'b' });
const results = await Promise.all([a, b].map((e) => e.invoke({}, { remainingMs: 1000 }).result));
console.log(JSON.stringify(results));`,
    );
    const run = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toMatchObject([
      { atLoad: 'a', now: 'a' },
      { atLoad: 'b', now: 'b' },
    ]);
  });

  it('reports the remaining time from the invocation deadline', async () => {
    const env = new InProcessEnvironment(bundle, {});
    const result = (await env.invoke({}, context(5000)).result) as { remaining: number };
    expect(result.remaining).toBeGreaterThan(4000);
    expect(result.remaining).toBeLessThanOrEqual(5000);
  });

  it('reports a thrown error by its own name, as the Lambda runtime does', async () => {
    const env = new InProcessEnvironment(bundle, {});
    const { result } = env.invoke({ fail: true }, context());
    await expect(result).rejects.toBeInstanceOf(LambdaInvocationError);
    await expect(result).rejects.toMatchObject({ name: 'NotReadyYet', message: 'not yet' });
    expect(env.inFlight).toBe(0);
  });

  it('fails its invocations with Runtime.ImportModuleError when the bundle does not load', async () => {
    const env = new InProcessEnvironment(join(dir, 'missing.mjs'), {});
    await expect(env.ready).rejects.toMatchObject({ name: 'Runtime.ImportModuleError' });
    await expect(env.invoke({}, context()).result).rejects.toMatchObject({
      name: 'Runtime.ImportModuleError',
    });
  });
});
