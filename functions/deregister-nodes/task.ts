import { DeregisterManagedInstanceCommand } from '@aws-sdk/client-ssm';
import { z } from 'zod';
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
 * InvalidInstanceId means already gone.
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
