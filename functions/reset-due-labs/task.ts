import * as z from 'zod';
import { resetLab, teardownLab, type LifecycleDeps } from '../shared/lab-lifecycle.js';
import { logger } from '../shared/logger.js';
import { labIdSchema } from '../shared/names.js';
import type { LabRecord } from '../shared/registry/lab-record.js';
import { epochSeconds } from '../shared/registry/table.js';
import { newExecutionName } from '../shared/workflow-starter.js';

/**
 * The input the schedules pass (EventBridge Scheduler target input): both sweeps by default. The
 * nightly schedule runs both; a frequent expiry-only schedule passes `{"reset": false}`.
 */
export const inputSchema = z
  .object({
    /** Tear down ready/failed labs whose expiry has passed. */
    expire: z.boolean().default(true),
    /** Reset ready/failed labs whose nightly reset is due. */
    reset: z.boolean().default(true),
    /** The moment to sweep for (tests, catching up); now when absent. */
    now: z.iso.datetime().optional(),
  })
  .strict();
export type ResetDueLabsInput = z.input<typeof inputSchema>;

export interface SweepResult {
  at: string;
  teardowns: { labId: string; executionName: string }[];
  resets: { labId: string; generation: number; executionName: string }[];
  /** Labs that could not be started this time (the next run tries again). */
  errors: { labId: string; action: 'teardown' | 'reset'; error: string }[];
}

/**
 * The reset schedule's target: tears down every lab past its expiry (so forgotten labs stop
 * costing money) and resets every lab due for its nightly reset (a new generation, new execution
 * name and client tokens). Each lab is changed under the registry's optimistic lock, so a lab the
 * portal changes at the same moment is left to the portal; labs in the middle of a workflow are
 * left to finish. One lab's failure does not stop the others.
 */
export async function resetDueLabs(
  input: z.output<typeof inputSchema>,
  deps: LifecycleDeps,
): Promise<SweepResult> {
  const now = input.now ? new Date(input.now) : (deps.clock ?? (() => new Date()))();
  const at = epochSeconds(now);
  const result: SweepResult = { at: now.toISOString(), teardowns: [], resets: [], errors: [] };
  const due = await deps.registry.labs.dueLabs(now);
  const act = async (lab: LabRecord) => {
    const expired = lab.expiresAt <= at;
    const action = expired ? 'teardown' : 'reset';
    if (expired ? !input.expire : !input.reset || !lab.nightlyReset) return;
    try {
      const outcome = expired
        ? await teardownLab({ ...deps, clock: () => now }, lab.labId)
        : await resetLab({ ...deps, clock: () => now }, lab.labId);
      if (outcome.outcome !== 'started') return; // changed by someone else meanwhile
      if (expired) result.teardowns.push({ labId: lab.labId, executionName: outcome.lab.executionName });
      else
        result.resets.push({
          labId: lab.labId,
          generation: outcome.lab.generation,
          executionName: outcome.lab.executionName,
        });
    } catch (err) {
      logger.error('could not start a scheduled workflow', { labId: lab.labId, action, error: err as Error });
      result.errors.push({ labId: lab.labId, action, error: (err as Error).name });
    }
  };
  // A few at a time: StartExecution and the registry absorb this easily, and one slow call does
  // not hold up the sweep.
  const queue = [...due];
  await Promise.all(
    Array.from({ length: Math.min(5, queue.length) }, async () => {
      for (let lab = queue.shift(); lab; lab = queue.shift()) await act(lab);
    }),
  );
  return result;
}

/** One record of a DynamoDB stream, as far as the TTL sweep reads it. */
const streamRecordSchema = z.object({
  eventName: z.string(),
  userIdentity: z.object({ type: z.string(), principalId: z.string() }).optional(),
  dynamodb: z
    .object({
      OldImage: z
        .object({
          kind: z.object({ S: z.string() }).optional(),
          labId: z.object({ S: z.string() }).optional(),
          status: z.object({ S: z.string() }).optional(),
          generation: z.object({ N: z.string() }).optional(),
        })
        .loose()
        .optional(),
    })
    .loose()
    .optional(),
});
export const streamEventSchema = z.object({ Records: z.array(streamRecordSchema.loose()) });

/**
 * DynamoDB may purge an expired lab's record (TTL) before the schedule sees it. Those deletions
 * arrive on the table's stream: every live lab among them is torn down all the same, under a new
 * record that stays until the teardown marks it deleted.
 */
export async function teardownPurgedLabs(
  event: z.output<typeof streamEventSchema>,
  deps: LifecycleDeps,
): Promise<{ teardowns: { labId: string; executionName: string }[] }> {
  const now = (deps.clock ?? (() => new Date()))();
  const teardowns: { labId: string; executionName: string }[] = [];
  for (const record of event.Records) {
    const image = record.dynamodb?.OldImage;
    const byTtl =
      record.userIdentity?.type === 'Service' && record.userIdentity.principalId === 'dynamodb.amazonaws.com';
    if (record.eventName !== 'REMOVE' || !byTtl || image?.kind?.S !== 'lab') continue;
    const labId = image.labId?.S;
    if (!labIdSchema.safeParse(labId).success || image.status?.S === 'deleted') continue;
    const generation = Number(image.generation?.N ?? 1);
    const executionName = newExecutionName(labId!, generation, 'teardown-lab', now);
    const iso = now.toISOString();
    const created = await deps.registry.labs.putLab({
      labId: labId!,
      status: 'tearing-down',
      generation,
      executionName,
      workflow: 'teardown-lab',
      options: { labId },
      steps: {},
      ledger: {},
      expiresAt: epochSeconds(now) + 7 * 86400,
      nightlyReset: false,
      createdAt: iso,
      updatedAt: iso,
      version: 1,
    });
    if (!created) continue; // the id is already in use again
    await deps.starter.start('teardown-lab', { labId }, executionName);
    teardowns.push({ labId: labId!, executionName });
  }
  return { teardowns };
}
