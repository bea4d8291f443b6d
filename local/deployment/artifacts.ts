import { createHash, randomUUID } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

/**
 * What ships, built once and reused while its sources are unchanged: the esbuild bundles of every
 * function (dist/functions/<name>/index.mjs, exactly what `npm run build` writes and the stack
 * deploys) and the synthesized CloudFormation template (dist/template.json). The local runner, the
 * CLI, `serve`, the workflow tests and the bench run these, not the TypeScript sources.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DIST = join(ROOT, 'dist');
export const BUNDLE_DIR = join(DIST, 'functions');
export const TEMPLATE_FILE = join(DIST, 'template.json');
/** The stack name the local deployment synthesizes (the README's default). */
export const LOCAL_STACK_NAME = 'SessionLab';

function filesUnder(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) filesUnder(path, out);
    else out.push(path);
  }
  return out;
}

/** A digest of the files' paths and contents. */
function digest(paths: string[]): string {
  const hash = createHash('sha256');
  for (const path of paths) {
    hash.update(relative(ROOT, path));
    hash.update('\0');
    hash.update(readFileSync(path));
    hash.update('\0');
  }
  return hash.digest('hex');
}

const bundleInputs = () => [
  ...filesUnder(join(ROOT, 'functions')),
  join(ROOT, 'esbuild.config.mjs'),
  join(ROOT, 'package-lock.json'),
];
const templateInputs = () => [
  ...filesUnder(join(ROOT, 'infra')),
  ...filesUnder(join(ROOT, 'state-machine')),
  ...bundleInputs(),
];

/**
 * One builder at a time across processes (Jest's workers, a CLI beside the tests): a lock folder
 * next to the artifact, taken with mkdir (atomic) and given up when older than `staleMs`.
 */
async function withLock<T>(path: string, staleMs: number, fn: () => Promise<T>): Promise<T> {
  const lock = `${path}.lock`;
  mkdirSync(DIST, { recursive: true });
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      try {
        if (Date.now() - statSync(lock).mtimeMs > staleMs) rmSync(lock, { recursive: true, force: true });
      } catch {
        // removed by its holder meanwhile
      }
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

const stamp = (path: string) => `${path}.inputs`;
const upToDate = (path: string, hash: string) =>
  existsSync(path) && existsSync(stamp(path)) && readFileSync(stamp(path), 'utf8') === hash;

/** Builds dist/functions with esbuild.config.mjs unless the bundles of these sources are there. */
export async function ensureBundles(): Promise<string> {
  const hash = digest(bundleInputs());
  if (upToDate(BUNDLE_DIR, hash)) return BUNDLE_DIR;
  return withLock(BUNDLE_DIR, 300_000, async () => {
    if (upToDate(BUNDLE_DIR, hash)) return BUNDLE_DIR;
    const { buildFunctions } = await import('../../esbuild.config.mjs');
    // Built aside and moved in whole, so a reader never sees half a build.
    const staging = `${BUNDLE_DIR}.${randomUUID()}`;
    await buildFunctions({ outdir: staging });
    rmSync(BUNDLE_DIR, { recursive: true, force: true });
    rmSync(stamp(BUNDLE_DIR), { force: true });
    renameSync(staging, BUNDLE_DIR);
    writeFileSync(stamp(BUNDLE_DIR), hash);
    return BUNDLE_DIR;
  });
}

/** A CloudFormation template as JSON. */
export interface Template {
  Resources: Record<string, { Type: string; Properties?: Record<string, unknown>; Metadata?: unknown }>;
  [key: string]: unknown;
}

/**
 * Synthesizes the CDK app (cdk-nag included) unless the template of these sources is there.
 * `context` holds deployment settings as `cdk deploy -c name=value` gives them (infra/create-app.ts
 * DEPLOY_CONTEXT); each set of settings has a template of its own.
 */
export async function ensureTemplate(context: Record<string, string> = {}): Promise<Template> {
  await ensureBundles();
  const settings = JSON.stringify(Object.entries(context).sort());
  const hash = createHash('sha256').update(digest(templateInputs())).update(settings).digest('hex');
  const file =
    Object.keys(context).length === 0
      ? TEMPLATE_FILE
      : TEMPLATE_FILE.replace(
          /\.json$/,
          `-${createHash('sha256').update(settings).digest('hex').slice(0, 12)}.json`,
        );
  if (!upToDate(file, hash)) {
    await withLock(file, 300_000, async () => {
      if (upToDate(file, hash)) return;
      const { createApp } = await import('../../infra/create-app.js');
      const outdir = join(DIST, `cdk.out.${randomUUID()}`);
      try {
        const { app, stack } = createApp({
          outdir,
          bundleDir: BUNDLE_DIR,
          stackName: LOCAL_STACK_NAME,
          context,
        });
        const assembly = app.synth();
        const template = assembly.getStackByName(stack.stackName).template as unknown;
        writeFileSync(file, JSON.stringify(template));
        writeFileSync(stamp(file), hash);
      } finally {
        rmSync(outdir, { recursive: true, force: true });
      }
    });
  }
  return JSON.parse(readFileSync(file, 'utf8')) as Template;
}
