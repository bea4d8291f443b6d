import { labClients } from '../../../functions/shared/clients.js';
import { inventoryCount, labInventory } from '../../../functions/shared/lab-inventory.js';
import { runLocally } from '../../../local/runner/runner.js';
import { failingStep } from '../../helpers/failing-step.js';
import { useEmulator } from '../../helpers/emulator.js';

const LAB = 'fail-mid';
const SCALE = 0.05;

describe('provision-lab with a permanent failure in a middle step', () => {
  useEmulator({ time: { scale: SCALE } });

  it('fails naming the step and its cause, and teardown then leaves nothing behind', async () => {
    const provision = await runLocally('provision-lab', {
      input: { labId: LAB },
      executionName: `${LAB}-provision-1`,
      timeScale: SCALE,
      resolveHandler: failingStep('register-agents'),
    });
    expect(provision.status).toBe('FAILED');
    expect(provision.error).toMatch(/^Register agents failed/);
    expect(provision.cause).toContain('injected permanent failure in register-agents');
    // Steps after the failure never ran; steps before it left resources that teardown must find.
    expect(provision.events.some((e) => e.state === 'Wait for registration')).toBe(false);
    expect(inventoryCount(await labInventory(labClients(), LAB))).toBeGreaterThan(0);

    const teardown = await runLocally('teardown-lab', {
      input: { labId: LAB },
      executionName: `${LAB}-teardown-1`,
      timeScale: SCALE,
    });
    expect(teardown.status).toBe('SUCCEEDED');
    expect(inventoryCount(await labInventory(labClients(), LAB))).toBe(0);
  });

  it('refuses bad input in its first state, naming the field, before any resource exists', async () => {
    const provision = await runLocally('provision-lab', {
      input: { labId: 'bad-input', instanceType: 7 },
      executionName: 'bad-input-provision-1',
      timeScale: SCALE,
    });
    expect(provision.status).toBe('FAILED');
    expect(`${provision.error} ${provision.cause}`).toMatch(/instanceType/);
    const tasksEntered = provision.events.filter((e) => e.type === 'StateEntered' && e.stateType === 'Task');
    // Nothing but the validation, and the failure's record in the lab registry (none here).
    expect(new Set(tasksEntered.map((e) => e.state))).toEqual(
      new Set(['Validate lab input', 'Record provision failure']),
    );
    expect(inventoryCount(await labInventory(labClients(), 'bad-input'))).toBe(0);
  });
});
