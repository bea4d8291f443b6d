import { DescribeInstancesCommand, type Instance } from '@aws-sdk/client-ec2';
import * as z from 'zod';
import type { LabClients } from '../shared/clients.js';
import { LabStepFailed, isErrorNamed } from '../shared/errors.js';
import { labConfigSchema, type LabConfig } from '../shared/lab-config.js';
import { labInstanceSchema, type LabInstance } from '../shared/lab-state.js';
import { onlineInstances } from '../shared/managed-nodes.js';
import type { HostRole } from '../shared/names.js';

export const inputSchema = z
  .object({ lab: labConfigSchema, instances: z.array(labInstanceSchema).min(1) })
  .strict();
export type WaitForInstancesInput = { lab: LabConfig; instances: LabInstance[] };

export interface WaitForInstancesOutput {
  ready: boolean;
  pending: HostRole[];
}

/** States a lab host never comes back from by waiting. */
const DEAD_STATES = new Set(['shutting-down', 'terminated', 'stopping', 'stopped']);

/**
 * Seed step 3.8 as a poll: ready when every host is `running` and the hosts with the instance
 * profile (the EC2 lab hosts and the bootstrap host) are Online in Systems Manager. A host that
 * is stopping, stopped or terminated will not get there: the step fails naming it.
 */
export async function waitForInstances(
  input: WaitForInstancesInput,
  clients: Pick<LabClients, 'ec2' | 'ssm'>,
): Promise<WaitForInstancesOutput> {
  const { instances } = input;
  let described: Instance[];
  try {
    const out = await clients.ec2.send(
      new DescribeInstancesCommand({ InstanceIds: instances.map((i) => i.instanceId) }),
    );
    described = (out.Reservations ?? []).flatMap((reservation) => reservation.Instances ?? []);
  } catch (err) {
    // Right after RunInstances the ids may not be visible yet.
    if (!isErrorNamed(err, 'InvalidInstanceID.NotFound')) throw err;
    return { ready: false, pending: instances.map((i) => i.role) };
  }
  const stateOf = new Map(described.map((i) => [i.InstanceId!, i.State?.Name ?? 'pending']));

  const dead = instances.filter((i) => DEAD_STATES.has(stateOf.get(i.instanceId) ?? ''));
  if (dead.length > 0) {
    throw new LabStepFailed(
      `lab hosts will not come up: ${dead.map((i) => `${i.role} (${i.instanceId}) is ${stateOf.get(i.instanceId)}`).join(', ')}`,
    );
  }

  const running = instances.filter((i) => stateOf.get(i.instanceId) === 'running');
  const managed = running.filter((i) => i.kind !== 'onprem');
  const online = await onlineInstances(
    clients.ssm,
    managed.map((i) => i.instanceId),
  );
  const pending = instances
    .filter(
      (i) => stateOf.get(i.instanceId) !== 'running' || (i.kind !== 'onprem' && !online.has(i.instanceId)),
    )
    .map((i) => i.role);
  return { ready: pending.length === 0, pending };
}
