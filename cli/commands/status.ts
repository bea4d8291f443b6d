import type { Command } from 'commander';
import { addLabIdOption } from '../options.js';

/**
 * What exists of a lab right now, read from AWS (or the emulator at AWS_ENDPOINT_URL) by its tag
 * and names: the same inventory teardown must bring to zero.
 */
export function registerStatusCommand(program: Command, exit: (code: number) => void): void {
  addLabIdOption(program.command('status'))
    .description('list what exists of a lab: instances, nodes and their ping, activations, user, secrets')
    .option('--json', 'print the inventory as JSON only')
    .action(async (flags: { labId: string; json?: boolean }) => {
      const { checkLabId } = await import('../lab-flags.js');
      const labId = checkLabId(flags.labId);
      // The SDK clients: loaded only by this command, once the lab id is known good.
      const [{ labClients }, { findLabManagedNodes }, { inventoryCount, labInventory }] = await Promise.all([
        import('../../functions/shared/clients.js'),
        import('../../functions/shared/discovery.js'),
        import('../../functions/shared/lab-inventory.js'),
      ]);
      // Reads the account the SDK's credentials reach (or the emulator at AWS_ENDPOINT_URL); a
      // one-shot emulator would be empty, so none is started here.
      process.env.AWS_REGION ??= 'us-east-1';
      const clients = labClients();
      const [inventory, nodes] = await Promise.all([
        labInventory(clients, labId),
        findLabManagedNodes(clients.ssm, labId),
      ]);
      if (flags.json) {
        console.log(
          JSON.stringify(
            {
              labId,
              inventory,
              nodes: nodes.map((n) => ({ nodeId: n.InstanceId, name: n.Name, pingStatus: n.PingStatus })),
            },
            null,
            2,
          ),
        );
      } else {
        console.log(`Lab ${labId}: ${inventoryCount(inventory)} resource(s)`);
        for (const [kind, items] of Object.entries(inventory))
          if (items.length) console.log(`  ${kind.padEnd(15)} ${items.join(', ')}`);
        for (const node of nodes)
          console.log(`  node ${node.InstanceId} ${node.Name ?? ''} ${node.PingStatus}`);
      }
      exit(0);
    });
}
