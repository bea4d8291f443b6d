import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { ensureBundles } from '../../local/deployment/artifacts.js';

/**
 * Step Functions matches a Lambda's error by the `name` of the error it threw, after esbuild has
 * minified the bundle. Every error name the workflows retry or catch (the dotted ones, `States.`,
 * `Lambda.`, come from AWS itself) must therefore be a name some deployed bundle can throw: a
 * class whose `name` is that string literal, which minification cannot rename.
 */
const STATE_MACHINES = fileURLToPath(new URL('../../state-machine/', import.meta.url));

function errorEquals(node: unknown, found = new Set<string>()): Set<string> {
  if (Array.isArray(node)) node.forEach((item) => errorEquals(item, found));
  else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'ErrorEquals') (value as string[]).forEach((name) => found.add(name));
      else errorEquals(value, found);
    }
  }
  return found;
}

const workflowErrorNames = () => {
  const names = new Set<string>();
  for (const file of readdirSync(STATE_MACHINES).filter((f) => f.endsWith('.asl.json')))
    errorEquals(JSON.parse(readFileSync(join(STATE_MACHINES, file), 'utf8')), names);
  return [...names].filter((name) => !name.includes('.')).sort();
};

describe('error names survive bundling', () => {
  let bundles: string[] = [];
  beforeAll(async () => {
    const dir = await ensureBundles();
    bundles = readdirSync(dir).map((name) => readFileSync(join(dir, name, 'index.mjs'), 'utf8'));
  }, 240_000);

  it('the workflows name errors of their own to retry or catch', () => {
    expect(workflowErrorNames()).toEqual(
      expect.arrayContaining(['NotReadyYet', 'IamNotPropagatedYet', 'Throttled', 'RegistryConflict']),
    );
  });

  it.each(workflowErrorNames())('%s is the name of an error some bundle throws', (name) => {
    const literal = new RegExp(`\\bname\\s*[=:]\\s*"${name}"`);
    expect(bundles.filter((code) => literal.test(code)).length).toBeGreaterThan(0);
  });
});
