import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { ListCommandsCommand } from '@aws-sdk/client-ssm';
import { labClients } from '../../../functions/shared/clients.js';
import { labInventory } from '../../../functions/shared/lab-inventory.js';
import { toTagRecord } from '../../../functions/shared/tags.js';
import { runLocally, type LocalRunResult } from '../../../local/runner/runner.js';
import { useEmulator } from '../../helpers/emulator.js';

const LAB = 'again';

interface Report {
  ok: boolean;
  nodes: { role: string; nodeId: string; pingStatus: string }[];
  accessMatrix: unknown[];
}

/**
 * What the lab holds after a run: its instances by Name and state (from the inventory, which finds
 * them by tag), its mi- nodes, its activations, and the registration commands ever sent.
 */
async function labState() {
  const clients = labClients();
  const inventory = await labInventory(clients, LAB);
  const { Reservations = [] } = await clients.ec2.send(
    new DescribeInstancesCommand({ InstanceIds: inventory.instances }),
  );
  const instances = Reservations.flatMap((r) => r.Instances ?? []);
  const live = instances.filter((i) => ['pending', 'running'].includes(i.State!.Name!));
  const { Commands = [] } = await clients.ssm.send(new ListCommandsCommand({}));
  return {
    live: Object.fromEntries(live.map((i) => [toTagRecord(i.Tags).Name!, i.InstanceId!])),
    liveCount: live.length,
    hybridNodes: inventory.managedNodes.filter((id) => id.startsWith('mi-')).sort(),
    activations: inventory.activations.length,
    registrationCommands: Commands.filter(
      (c) => c.Comment === `session-lab ${LAB}: register the on-premises hosts`,
    ).length,
  };
}

async function provision(executionName: string): Promise<Report> {
  const run: LocalRunResult = await runLocally('provision-lab', {
    input: { labId: LAB },
    executionName,
    timeScale: 0.05,
  });
  expect([run.status, run.error, run.cause]).toEqual(['SUCCEEDED', undefined, undefined]);
  const report = run.output as Report;
  expect(report.ok).toBe(true);
  return report;
}

/**
 * Issue 5: provisioning a lab that is provisioned already, as a new execution (a new run id),
 * converges on the lab that exists: the same hosts, the same hybrid nodes, the same access.
 */
describe('provision-lab run again on an existing lab', () => {
  useEmulator({ time: { scale: 0.05 } });

  it('reuses the hosts and their registered nodes; launches only a bootstrap host, registers nothing', async () => {
    const firstReport = await provision(`provision-${LAB}-1`);
    const first = await labState();
    // The four lab hosts; the bootstrap host was terminated by Close bootstrap access.
    expect(first.liveCount).toBe(4);
    expect(Object.keys(first.live).sort()).toEqual(
      ['DevEC2Instance', 'DevOnPrem', 'ProdEC2Instance', 'ProdOnPrem'].map((role) => `${role}-${LAB}`),
    );
    expect(first.hybridNodes).toHaveLength(2);
    expect(first.registrationCommands).toBe(1);
    // Registration verified, Close bootstrap access deleted the activations (and their codes).
    expect(first.activations).toBe(0);

    const secondReport = await provision(`provision-${LAB}-2`);
    const second = await labState();
    expect(second.liveCount).toBe(4);
    expect(second.live).toEqual(first.live);
    expect(second.hybridNodes).toEqual(first.hybridNodes);
    // Both hosts were Online nodes already: no activation made, no command sent.
    expect(second.activations).toBe(first.activations);
    expect(second.registrationCommands).toBe(1);
    expect(secondReport.nodes).toEqual(firstReport.nodes);
    expect(
      secondReport.nodes
        .filter((n) => n.nodeId.startsWith('mi-'))
        .map((n) => n.nodeId)
        .sort(),
    ).toEqual(first.hybridNodes);
    expect(secondReport.accessMatrix).toEqual(firstReport.accessMatrix);
    // Two provisions of the deployed bundles, cold starts included, on a 2-core machine.
  }, 240_000);
});
