// Bundles every functions/<task>/handler.ts (and functions/api/<route>/handler.ts) into its own
// Lambda artifact: dist/functions/<name>/index.mjs, minified with a source map, for the newest
// Node.js Lambda runtime aws-cdk-lib offers (nodejs24.x). `node esbuild.config.mjs` prints sizes.
import { build } from 'esbuild';
import { readdirSync, existsSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));
export const LAMBDA_TARGET = 'node24';

/** Every handler entry point, keyed by its function name (the folder path with `/` as `-`). */
export function functionEntries(dir = join(root, 'functions')) {
  const entries = {};
  const walk = (folder) => {
    for (const name of readdirSync(folder)) {
      const path = join(folder, name);
      if (name === 'shared' || !statSync(path).isDirectory()) continue;
      const handler = join(path, 'handler.ts');
      if (existsSync(handler)) entries[relative(dir, path).split('/').join('-')] = handler;
      walk(path);
    }
  };
  walk(dir);
  return entries;
}

/** The options every Lambda bundle is built with (entry and output file aside). */
export const BUNDLE_OPTIONS = {
  bundle: true,
  platform: 'node',
  target: LAMBDA_TARGET,
  format: 'esm',
  minify: true,
  sourcemap: true,
  legalComments: 'none',
  // Shell scripts a function sends to a host (register-agents.sh) are inlined as strings.
  loader: { '.sh': 'text' },
  // Some bundled CommonJS dependencies call require(); give ESM output one.
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
  logLevel: 'warning',
};

export async function buildFunctions({ outdir = join(root, 'dist', 'functions') } = {}) {
  const entries = functionEntries();
  const results = [];
  for (const [name, entry] of Object.entries(entries)) {
    const outfile = join(outdir, name, 'index.mjs');
    await build({ ...BUNDLE_OPTIONS, entryPoints: [entry], outfile });
    results.push({ name, bytes: statSync(outfile).size });
  }
  return results;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const results = await buildFunctions();
  const width = Math.max(8, ...results.map((r) => r.name.length));
  console.log(`${'function'.padEnd(width)}  size`);
  for (const { name, bytes } of results)
    console.log(`${name.padEnd(width)}  ${(bytes / 1024).toFixed(1)} KiB`);
  console.log(`${results.length} function bundle(s) in dist/functions`);
}
