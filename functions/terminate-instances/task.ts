import { TerminateInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import * as z from 'zod';
import type { LabClients } from '../shared/clients.js';
import { findLabInstances } from '../shared/discovery.js';
import { ignoreErrors, isErrorNamed } from '../shared/errors.js';
import { labIdSchema } from '../shared/names.js';

export const inputSchema = z.object({ labId: labIdSchema });
export type Input = z.output<typeof inputSchema>;

export interface Output {
  /** True once no instance of the lab is left in any state but terminated. */
  ready: boolean;
  /** The lab's instances not terminated yet. */
  pending: string[];
}

/**
 * Teardown step 4, one poll: terminate the lab's instances (found by tag) that are not already on
 * their way, and report which are not terminated yet. The state machine waits between polls
 * (Wait state), so the Lambda never sleeps; the security groups can go once this is ready.
 */
export async function terminateInstances(
  { labId }: Input,
  { ec2 }: Pick<LabClients, 'ec2'>,
): Promise<Output> {
  const live = await findLabInstances(ec2, labId);
  const toTerminate = live.filter((i) => i.State?.Name !== 'shutting-down').map((i) => i.InstanceId!);
  if (toTerminate.length > 0) await terminate(ec2, toTerminate);
  const pending = live.map((i) => i.InstanceId!);
  return { ready: pending.length === 0, pending };
}

/**
 * One call for all; if one instance vanished meanwhile (the call then fails as a whole), one call
 * each, where "not found" means gone.
 */
async function terminate(ec2: EC2Client, InstanceIds: string[]): Promise<void> {
  try {
    await ec2.send(new TerminateInstancesCommand({ InstanceIds }));
  } catch (err) {
    if (!isErrorNamed(err, 'InvalidInstanceID.NotFound')) throw err;
    for (const id of InstanceIds) {
      await ignoreErrors(
        () => ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] })),
        'InvalidInstanceID.NotFound',
      );
    }
  }
}
