import { DeregisterManagedInstanceCommand } from '@aws-sdk/client-ssm';
import * as z from 'zod';
import type { LabClients } from '../shared/clients.js';
import { findLabManagedNodes } from '../shared/discovery.js';
import { ignoreErrors } from '../shared/errors.js';
import { labIdSchema } from '../shared/names.js';

export const inputSchema = z.object({ labId: labIdSchema });
export type Input = z.output<typeof inputSchema>;

export interface Output {
  deregistered: string[];
}

/**
 * Teardown step 3, once the activations are gone (no registration still running can add a node):
 * deregister the lab's hybrid (`mi-`) nodes, found by the lab tag their activation copied onto
 * them. EC2 `i-` nodes cannot be deregistered; they go with their instance.
 * InvalidInstanceId means already gone. Unlike provisioning, which takes a node for a lab host only
 * when it reports that host's address (shared/managed-nodes.ts `isNodeOfHost`), cleanup goes by the
 * lab's tag alone: every node registered with the lab's activations carries it, including one a
 * stolen code registered elsewhere and one that never reported an address, and all of them go.
 */
export async function deregisterNodes({ labId }: Input, { ssm }: Pick<LabClients, 'ssm'>): Promise<Output> {
  const nodes = await findLabManagedNodes(ssm, labId);
  const deregistered = nodes.map((node) => node.InstanceId ?? '').filter((id) => id.startsWith('mi-'));
  for (const InstanceId of deregistered) {
    await ignoreErrors(
      () => ssm.send(new DeregisterManagedInstanceCommand({ InstanceId })),
      'InvalidInstanceId',
    );
  }
  return { deregistered };
}
