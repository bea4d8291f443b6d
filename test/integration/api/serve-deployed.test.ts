import { jest } from '@jest/globals';
import { ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { ensureTemplate } from '../../../local/deployment/artifacts.js';
import { startLambdaService, type LambdaService } from '../../../local/runner/lambda-service.js';
import { startServing, type HostingServing } from '../../../local/serve/serve.js';
import { emulatorClientConfig, TEST_REGION, useEmulator } from '../../helpers/emulator.js';

/**
 * `session-lab serve` runs what ships: each route is its deployed bundle, with the environment its
 * template declares, not serve's own. Deployed with `-c allowSeedPolicyMode=false`, POST /labs
 * refuses `policyMode: "seed"` though this process's environment says nothing of it; a good
 * request starts provision-lab with StartExecution on the emulator, whose executor is serve's.
 */

const emulator = useEmulator();
jest.setTimeout(300_000);

let serving: HostingServing;
let deployment: LambdaService;
const started: string[] = [];
beforeAll(async () => {
  delete process.env.ALLOW_SEED_POLICY_MODE;
  delete process.env.REGISTRY_TABLE;
  deployment = await startLambdaService({
    endpoint: emulator().url,
    region: TEST_REGION,
    template: await ensureTemplate({ allowSeedPolicyMode: 'false' }),
  });
  serving = await startServing({
    port: 0,
    emulator: emulator(),
    lambda: deployment,
    run: async (name, input, executionName) => {
      started.push(`${name} ${executionName} ${JSON.stringify(input)}`);
      return { status: 'FAILED', error: 'NotRun', cause: 'a stand-in for the workflows' };
    },
  });
});
afterAll(async () => {
  await serving?.starter.idle();
  await serving?.stop();
  await deployment?.stop();
});

const post = async (path: string, body: unknown) => {
  const response = await fetch(`${serving.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

it('answers with the route bundle under its template environment', async () => {
  expect(process.env.ALLOW_SEED_POLICY_MODE).toBeUndefined();
  expect(deployment.stack.functions.get('api-create-lab')!.environment.ALLOW_SEED_POLICY_MODE).toBe('false');
  await expect(post('/labs', { labId: 'seeded', policyMode: 'seed' })).resolves.toMatchObject({
    status: 400,
    body: { code: 'InvalidRequest', field: 'policyMode' },
  });
  expect(started).toEqual([]);
});

it('starts the workflow through the emulator’s StartExecution, run by serve and recorded as it ended', async () => {
  await expect(post('/labs', { labId: 'plain' })).resolves.toMatchObject({
    status: 202,
    body: { labId: 'plain', status: 'provisioning' },
  });
  await serving.starter.idle();
  expect(started).toEqual([expect.stringMatching(/^provision-lab plain-g1-provision-\S+ .*"labId":"plain"/)]);
  const stateMachineArn = deployment.stack.stateMachines.get('SessionLab-provision-lab')!.arn;
  const { executions } = await new SFNClient(emulatorClientConfig(emulator())).send(
    new ListExecutionsCommand({ stateMachineArn }),
  );
  expect(executions?.map((e) => [e.name, e.status])).toEqual([[started[0]!.split(' ')[1], 'FAILED']]);
  // The record-lab-status bundle recorded the end, as the deployed status-change rule has it do.
  await expect(serving.registry.labs.getLab('plain')).resolves.toMatchObject({ status: 'failed' });
});
