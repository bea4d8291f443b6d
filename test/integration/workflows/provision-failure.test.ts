import { DescribeActivationsCommand, GetParameterCommand } from '@aws-sdk/client-ssm';
import { labClients } from '../../../functions/shared/clients.js';
import { inventoryCount, labInventory } from '../../../functions/shared/lab-inventory.js';
import { labNames } from '../../../functions/shared/names.js';
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

  it('leaves no activation and no activation code behind when it fails after Create activations', async () => {
    const lab = 'fail-codes';
    const provision = await runLocally('provision-lab', {
      input: { labId: lab },
      executionName: `${lab}-provision-1`,
      timeScale: SCALE,
      resolveHandler: failingStep('wait-for-registration'),
    });
    expect(provision.status).toBe('FAILED');
    expect(provision.error).toMatch(/^Wait for registration failed/);
    // Create activations ran, and the failure path deleted what it made before recording it.
    expect(provision.events.some((e) => e.state === 'Create activations')).toBe(true);
    const entered = provision.events.filter((e) => e.type === 'StateEntered').map((e) => e.state);
    expect(entered.indexOf('Delete activations')).toBeGreaterThan(-1);
    expect(entered.indexOf('Delete activations')).toBeLessThan(entered.indexOf('Record provision failure'));

    const clients = labClients();
    const inventory = await labInventory(clients, lab);
    expect(inventory.activations).toEqual([]);
    expect(inventory.parameters.filter((name) => name.startsWith(`/session-lab/${lab}/activation/`))).toEqual(
      [],
    );
    // Not by tag alone: no activation of the account is named for the lab's hosts.
    const all = await clients.ssm.send(new DescribeActivationsCommand({}));
    expect((all.ActivationList ?? []).filter((a) => a.DefaultInstanceName?.endsWith(`-${lab}`))).toEqual([]);
    for (const environment of ['Dev', 'Prod'] as const) {
      await expect(
        clients.ssm.send(
          new GetParameterCommand({ Name: labNames(lab).activationCodeParameter(environment) }),
        ),
      ).rejects.toMatchObject({ name: 'ParameterNotFound' });
    }

    const teardown = await runLocally('teardown-lab', {
      input: { labId: lab },
      executionName: `${lab}-teardown-1`,
      timeScale: SCALE,
    });
    expect(teardown.status).toBe('SUCCEEDED');
    expect(inventoryCount(await labInventory(clients, lab))).toBe(0);
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
