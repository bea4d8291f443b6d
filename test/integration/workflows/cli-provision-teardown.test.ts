import { jest } from '@jest/globals';
import { labClients } from '../../../functions/shared/clients.js';
import { inventoryCount, labInventory } from '../../../functions/shared/lab-inventory.js';
import { runCli } from '../../helpers/cli.js';
import { TEST_REGION, SHORT_DELAYS, useEmulator } from '../../helpers/emulator.js';

const LAB = 'cli-e2e';

describe('session-lab provision then teardown (the real workflows, run locally)', () => {
  // Each command is a process of its own that deploys the stack into the emulator and cold-starts
  // every function's bundle: minutes on a loaded 2-core machine.
  jest.setTimeout(240_000);
  // The scale (so every Retry budget) stays what the CLI runs with.
  const emulator = useEmulator({ time: { scale: 0.05, ...SHORT_DELAYS } });
  const env = () => ({
    AWS_ENDPOINT_URL: emulator().url,
    AWS_REGION: TEST_REGION,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
  });

  it('provisions and verifies the lab, printing the report without secrets', async () => {
    const run = await runCli(['provision', '--lab-id', LAB, '--json', '--time-scale', '0.05'], env());
    expect(run.stderr).not.toMatch(/failed/);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.ok).toBe(true);
    expect(report.nodes.map((n: { role: string }) => n.role).sort()).toEqual([
      'DevEC2Instance',
      'DevOnPrem',
      'ProdEC2Instance',
      'ProdOnPrem',
    ]);
    const matrix = Object.fromEntries(
      report.accessMatrix.map((c: { role: string; actual: string }) => [c.role, c.actual]),
    );
    expect(matrix).toEqual({
      DevEC2Instance: 'allowed',
      DevOnPrem: 'allowed',
      ProdEC2Instance: 'denied',
      ProdOnPrem: 'denied',
    });
    expect(report.user.passwordSecretArn).toMatch(/^arn:aws:secretsmanager:/);
    expect(run.stdout).not.toMatch(/BEGIN (RSA |OPENSSH )?PRIVATE KEY/);
  });

  it('verifies the existing lab again, found by its tags and names', async () => {
    const run = await runCli(['verify', '--lab-id', LAB, '--json'], env());
    expect(run.stderr).not.toMatch(/failed/);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.ok).toBe(true);
    const own = report.accessMatrix.filter((c: { role: string }) => c.role !== 'other lab');
    expect(
      Object.fromEntries(own.map((c: { role: string; actual: string }) => [c.role, c.actual])),
    ).toMatchObject({
      DevEC2Instance: 'allowed',
      DevOnPrem: 'allowed',
      ProdEC2Instance: 'denied',
      ProdOnPrem: 'denied',
    });
  });

  it('tears the lab down so that nothing tagged with its id remains', async () => {
    const before = inventoryCount(await labInventory(labClients(), LAB));
    expect(before).toBeGreaterThan(0);
    const run = await runCli(['teardown', '--lab-id', LAB, '--time-scale', '0.05'], env());
    expect(run.code).toBe(0);
    expect(await labInventory(labClients(), LAB)).toEqual({
      instances: [],
      securityGroups: [],
      keyPairs: [],
      parameters: [],
      activations: [],
      managedNodes: [],
      users: [],
      policies: [],
      secrets: [],
    });
  });

  it('refuses a bad lab id naming the flag, exit code 2, creating nothing', async () => {
    const run = await runCli(['provision', '--lab-id', 'Bad_Lab'], env());
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--lab-id/);
    expect(inventoryCount(await labInventory(labClients(), 'bad-lab'))).toBe(0);
  });
});
