import { afterAll, beforeAll } from '@jest/globals';
import { resetClients } from '../../functions/shared/clients.js';
import { startEmulator, type Emulator, type EmulatorOptions } from '../../local/emulator/index.js';
import { motoAt } from '../../local/emulator/moto.js';
import { lambdaServiceFor, stopLambdaServices } from '../../local/runner/lambda-service.js';
import { POOL_ENV } from './moto-pool.js';

export const TEST_REGION = 'us-east-1';

/**
 * Shorter boots, agent start and tier switch than AWS's, for the tests that run many labs' whole
 * workflows: every lab still waits for its instances, its agents and the tier, in less real time.
 * The scale, so every Retry budget, is the test's own and unchanged.
 */
export const SHORT_DELAYS = { ec2BootSeconds: 10, agentOnlineSeconds: 5, tierChangeSeconds: 30 } as const;

/** SDK client settings that reach the emulator. */
export function emulatorClientConfig(emulator: Emulator) {
  return {
    region: TEST_REGION,
    endpoint: emulator.url,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  };
}

/** This Jest worker's moto from the pool (moto-pool.ts), when the suite runs with one. */
function pooledMoto() {
  const urls = process.env[POOL_ENV]?.split(',') ?? [];
  const url = urls[Number(process.env.JEST_WORKER_ID ?? '1') - 1];
  return url ? motoAt(url) : undefined;
}

/**
 * Starts one emulator for the test file and points the shared clients at it through the standard
 * AWS_ENDPOINT_URL (as the product runs locally); stops it and restores the environment afterwards.
 */
export function useEmulator({
  deployStack,
  ...options
}: EmulatorOptions & { deployStack?: boolean } = {}): () => Emulator {
  let emulator: Emulator | undefined;
  const saved = { ...process.env };
  beforeAll(async () => {
    emulator = await startEmulator({ moto: pooledMoto(), ...options });
    // `deployStack`: the stack's resources first (its roles, the bootstrap roles' permissions
    // boundary, the registry table), for a test that runs the tasks itself, as after `cdk deploy`.
    if (deployStack) await lambdaServiceFor(emulator.url, TEST_REGION);
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: emulator.url,
      AWS_REGION: TEST_REGION,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
    });
    delete process.env.AWS_PROFILE;
    resetClients();
  }, 60_000);
  afterAll(async () => {
    // The functions' execution environments of this emulator end with it.
    if (emulator) await stopLambdaServices(emulator.url);
    await emulator?.stop();
    process.env = saved;
    resetClients();
  });
  return () => {
    if (!emulator)
      throw new Error('the emulator is not running (useEmulator must be called at the top of the file)');
    return emulator;
  };
}
