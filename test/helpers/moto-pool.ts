import { startMoto, type MotoServer } from '../../local/emulator/moto.js';

/**
 * Jest global set-up: one moto server per worker, for the files that worker runs one after another
 * (test/helpers/emulator.ts resets it at each file's start). A fresh moto costs about 4.5 s of CPU
 * (importing moto, building the IAM and EC2 backends) against about 1.5 s for a reset and rebuild,
 * and the suite starts one emulator per integration file on two cores.
 * The servers' URLs reach the workers in SESSION_LAB_TEST_MOTO_URLS (workers start after this).
 */
export const POOL_ENV = 'SESSION_LAB_TEST_MOTO_URLS';

// Set-up and tear-down share the main process's globals (Jest's rule for global set-up).
const holder = globalThis as { sessionLabMotoPool?: MotoServer[] };

export async function setUp(globalConfig: { maxWorkers: number }): Promise<void> {
  const servers = await Promise.all(Array.from({ length: globalConfig.maxWorkers }, () => startMoto()));
  holder.sessionLabMotoPool = servers;
  process.env[POOL_ENV] = servers.map((server) => server.url).join(',');
}

/** Jest global tear-down: stops the pool (each server also ends by itself when Jest is gone). */
export async function tearDown(): Promise<void> {
  const servers = holder.sessionLabMotoPool ?? [];
  holder.sessionLabMotoPool = undefined;
  await Promise.all(servers.map((server) => server.stop()));
}
