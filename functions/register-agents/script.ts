import { readFile } from 'node:fs/promises';

let cached: Promise<string> | undefined;

/**
 * The text of register-agents.sh, loaded once per container. Under jest and tsx (local runner, CLI)
 * the file is read beside this module. In the Lambda bundle there is no file beside it: esbuild's
 * `.sh` text loader (esbuild.config.mjs) has inlined it as the dynamic import's default export.
 */
export function registrationScript(): Promise<string> {
  cached ??= load().catch((err: unknown) => {
    cached = undefined;
    throw err;
  });
  return cached;
}

async function load(): Promise<string> {
  try {
    return await readFile(new URL('./register-agents.sh', import.meta.url), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const bundled = await import('./register-agents.sh');
  return bundled.default;
}
