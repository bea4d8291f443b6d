// Bundles every functions/<task>/handler.ts (and functions/api/<route>/handler.ts) into its own
// Lambda artifact: dist/functions/<name>/index.mjs, minified with a source map, for the newest
// Node.js Lambda runtime aws-cdk-lib offers (nodejs24.x). Each bundle carries the AWS SDK clients it
// uses (none is left to the runtime's SDK version). `node esbuild.config.mjs` (`npm run build`)
// prints each size and fails, naming them, when bundles are over MAX_BUNDLE_BYTES.
import { build } from 'esbuild';
import { readdirSync, existsSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));
export const LAMBDA_TARGET = 'node24';

/**
 * The most a bundle may weigh. A Lambda loads its whole bundle on every cold start, so a bundle
 * should carry only what its function calls: one SDK client too many, or a dependency imported whole,
 * shows here.
 */
export const MAX_BUNDLE_BYTES = 1024 * 1024;

/** The bundles of `results` (from buildFunctions) over MAX_BUNDLE_BYTES. */
export const oversized = (results) => results.filter(({ bytes }) => bytes > MAX_BUNDLE_BYTES);

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

/**
 * The AWS SDK describes each service's shapes in schema modules (`schemas/schemas_0.js`): one array
 * per shape, whose trait objects have computed keys naming module constants (`{ [_xN]: _m }`).
 * esbuild cannot tell such a key free of side effects, so it keeps every shape of a service (all of
 * EC2's) in a bundle that sends one of its calls. This replaces each such key with the string the
 * constant holds (the same object at run time), so that a bundle keeps only the shapes its commands
 * reach.
 */
export const sdkSchemaKeys = {
  name: 'sdk-schema-keys',
  setup(build) {
    const schemaModule =
      /[\\/]node_modules[\\/]@aws-sdk[\\/][^\\/]+[\\/]dist-es[\\/](?:.+[\\/])?schemas[\\/]schemas_\d+\.js$/;
    build.onLoad({ filter: schemaModule }, ({ path }) => {
      const source = readFileSync(path, 'utf8');
      const strings = new Map();
      for (const [, name, literal] of source.matchAll(/^const (_\w+) = ("(?:[^"\\\n]|\\.)*");$/gm))
        strings.set(name, literal);
      const contents = source.replace(/\[(_\w+)\]:/g, (key, name) =>
        strings.has(name) ? `${strings.get(name)}:` : key,
      );
      return { contents, loader: 'js' };
    });
  },
};

/** The options every Lambda bundle is built with (entry and output file aside). */
export const BUNDLE_OPTIONS = {
  bundle: true,
  platform: 'node',
  target: LAMBDA_TARGET,
  format: 'esm',
  minify: true,
  sourcemap: true,
  legalComments: 'none',
  // The SDK's and Smithy's ES module builds first: esbuild can drop what a function never imports
  // from them, where their CommonJS builds keep whole packages.
  mainFields: ['module', 'main'],
  // Shell scripts a function sends to a host (register-agents.sh) are inlined as strings.
  loader: { '.sh': 'text' },
  // Some bundled CommonJS dependencies call require(); give ESM output one.
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
  plugins: [sdkSchemaKeys],
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
  const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;
  console.log(`${'function'.padEnd(width)}  size`);
  for (const { name, bytes } of results) console.log(`${name.padEnd(width)}  ${kib(bytes)}`);
  const total = results.reduce((sum, { bytes }) => sum + bytes, 0);
  console.log(`${results.length} function bundle(s) in dist/functions, ${kib(total)} in all`);
  const over = oversized(results);
  if (over.length > 0) {
    console.error(
      `Bundle(s) over ${kib(MAX_BUNDLE_BYTES)}: ${over.map(({ name, bytes }) => `${name} (${kib(bytes)})`).join(', ')}`,
    );
    process.exitCode = 1;
  }
}
