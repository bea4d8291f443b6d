import { labClients } from '../../../functions/shared/clients.js';
import { labInventory, type LabInventory } from '../../../functions/shared/lab-inventory.js';
import { runLocally, type LocalRunResult } from '../../../local/runner/runner.js';
import { failingStep } from '../../helpers/failing-step.js';
import { SHORT_DELAYS, useEmulator } from '../../helpers/emulator.js';
import { BOOKKEEPING_FUNCTIONS, workflowSteps } from '../../helpers/steps.js';

const SCALE = 0.05;

const EMPTY: LabInventory = {
  instances: [],
  securityGroups: [],
  keyPairs: [],
  parameters: [],
  activations: [],
  managedNodes: [],
  users: [],
  policies: [],
  secrets: [],
};

/**
 * Crash consistency, step by step: for every Lambda step of provision-lab, a lab whose step fails
 * permanently there. Each execution fails naming that step and the cause; whatever the steps
 * before it created (in any branch still running when it failed), teardown-lab finds by the lab's
 * tag and names and removes, leaving nothing. The labs run concurrently against one emulator.
 */
describe('provision-lab with a permanent failure at each step, then teardown-lab', () => {
  // Shorter boots and tier switch than AWS's: the labs that fail late need the whole provision first.
  useEmulator({ time: { scale: SCALE, ...SHORT_DELAYS } });
  // One lab per function (a function may run as several states; the first one reached fails).
  // Bookkeeping steps (the registry) are left out: they provision nothing. So is the failure
  // path's cleanup (Delete activations), which runs only once another step has failed.
  const statesOf = new Map<string, string[]>();
  for (const [state, folder] of workflowSteps('provision-lab')) {
    if (folder !== 'validate-lab-input' && BOOKKEEPING_FUNCTIONS.has(folder)) continue;
    if (state === 'Delete activations') continue;
    statesOf.set(folder, [...(statesOf.get(folder) ?? []), state]);
  }
  const steps = [...statesOf].map(([folder, states]) => [states.join(' / '), folder] as const);
  const labOf = (folder: string) => `sf-${folder}`.slice(0, 32).replace(/-$/, '');
  const provisions = new Map<string, LocalRunResult>();

  it('covers every provisioning step of the definition', () => {
    expect(steps.length).toBeGreaterThanOrEqual(16);
    expect(steps.map(([, folder]) => folder)).toEqual(
      expect.arrayContaining(['validate-lab-input', 'create-key-pair', 'register-agents', 'verify-lab']),
    );
    expect(new Set(steps.map(([, folder]) => labOf(folder))).size).toBe(steps.length);
  });

  it('fails each execution naming the failed step and its cause', async () => {
    const runs = await Promise.all(
      steps.map(([, folder]) =>
        runLocally('provision-lab', {
          input: { labId: labOf(folder) },
          executionName: `${labOf(folder)}-provision-1`,
          timeScale: SCALE,
          resolveHandler: failingStep(folder),
        }),
      ),
    );
    steps.forEach(([state], i) => provisions.set(state, runs[i]!));
    const outcomes = steps.map(([states, folder]) => {
      const run = provisions.get(states)!;
      const failed = statesOf.get(folder)!.find((state) => run.error === `${state} failed: LabStepFailed`);
      return {
        folder,
        status: run.status,
        namesTheStep: failed !== undefined,
        cause: run.cause?.includes(`injected permanent failure in ${folder}`),
        // A permanent error is not retried: the step failed once.
        failures: run.events.filter((e) => e.type === 'StateFailed' && e.state === failed).length,
      };
    });
    expect(outcomes).toEqual(
      steps.map(([, folder]) => ({ folder, status: 'FAILED', namesTheStep: true, cause: true, failures: 1 })),
    );
  }, 600_000);

  it('teardown-lab then leaves nothing tagged with or named after any of the labs', async () => {
    expect(provisions.size).toBe(steps.length);
    // Four at a time: sixteen teardowns at once against one emulator once ended a lab's
    // `Record tearing down` in RegistryConflict past its retries (a clean-clone CI run, with the
    // registry active in every local run since the functions run with the template's
    // environment). What this test checks is each step's leftovers, not that contention.
    const teardowns: LocalRunResult[] = [];
    for (let i = 0; i < steps.length; i += 4) {
      const batch = steps.slice(i, i + 4).map(([, folder]) =>
        runLocally('teardown-lab', {
          input: { labId: labOf(folder) },
          executionName: `${labOf(folder)}-teardown-1`,
          timeScale: SCALE,
        }),
      );
      teardowns.push(...(await Promise.all(batch)));
    }
    expect(teardowns.map((t, i) => [steps[i]![0], t.status, t.error])).toEqual(
      steps.map(([state]) => [state, 'SUCCEEDED', undefined]),
    );
    const left = await Promise.all(steps.map(([, folder]) => labInventory(labClients(), labOf(folder))));
    expect(Object.fromEntries(steps.map(([state], i) => [state, left[i]]))).toEqual(
      Object.fromEntries(steps.map(([state]) => [state, EMPTY])),
    );
  }, 480_000);
});
