import type * as z from 'zod';
import type { labInputSchema } from './lab-config.js';
import type { LabChanges, LabRecord, WorkflowName } from './registry/lab-record.js';
import type { LabRegistry } from './registry/lab-registry.js';
import { DELETED_RECORD_DAYS, epochSeconds } from './registry/table.js';
import { newExecutionName, type WorkflowStarter } from './workflow-starter.js';

/**
 * The lab lifecycle as the portal API and the reset schedule drive it: each operation records the
 * new generation / execution in the registry first (conditionally), then starts the workflow under
 * that recorded name. A start cut short is repaired by asking again: the operation finds its own
 * record and starts the same name once more, which the starters treat as already started.
 */

export interface LifecycleDeps {
  registry: LabRegistry;
  starter: WorkflowStarter;
  clock?: () => Date;
}

export type LabOptions = z.output<typeof labInputSchema>;

/** A nightly reset never hits a lab provisioned less than this long before the schedule runs. */
export const RESET_GUARD_SECONDS = 3600;

export interface CreateLabRequest {
  options: LabOptions;
  owner?: string;
  /** The signed caller that asked (the API's request context). */
  requestedBy?: string;
  classId?: string;
  clientRequestToken?: string;
  expiresInHours: number;
  nightlyReset: boolean;
  /**
   * Start the lab's provisioning (default). False only records it: `POST /classes` starts the
   * labs it recorded together, as one provision-class execution.
   */
  start?: boolean;
}

export type CreateOutcome =
  | { outcome: 'created'; lab: LabRecord }
  | { outcome: 'replayed'; lab: LabRecord }
  | { outcome: 'conflict'; lab: LabRecord };

export type ChangeOutcome =
  | { outcome: 'started'; lab: LabRecord }
  | { outcome: 'in-progress'; lab: LabRecord }
  | { outcome: 'busy'; lab: LabRecord }
  | { outcome: 'not-found' };

/** What a workflow is started with: teardown needs only the lab id, the others the lab's options. */
export function workflowInput(lab: Pick<LabRecord, 'labId' | 'options' | 'workflow'>): unknown {
  return lab.workflow === 'teardown-lab' ? { labId: lab.labId } : lab.options;
}

async function startRecorded(deps: LifecycleDeps, lab: LabRecord): Promise<void> {
  await deps.starter.start(lab.workflow, workflowInput(lab), lab.executionName);
}

const IN_PROGRESS: Record<WorkflowName, LabRecord['status']> = {
  'provision-lab': 'provisioning',
  'reset-lab': 'provisioning',
  'teardown-lab': 'tearing-down',
};

/** The lab is in the middle of `workflow` (its record says so): asking again re-starts the same run. */
export const runningWorkflow = (lab: LabRecord, workflow: WorkflowName) =>
  lab.workflow === workflow && lab.status === IN_PROGRESS[workflow];

/**
 * Creates a lab and starts its provisioning. Idempotent by client request token: the same token
 * answers with the lab as it is (re-starting the recorded run if its start was cut short); another
 * token, or none, for an existing lab is a conflict. A deleted lab's id may be used again (next
 * generation).
 */
export async function createLab(deps: LifecycleDeps, request: CreateLabRequest): Promise<CreateOutcome> {
  const now = (deps.clock ?? (() => new Date()))();
  const labId = request.options.labId;
  for (let attempt = 0; attempt < 3; attempt++) {
    const existing = await deps.registry.labs.getLab(labId);
    if (existing && existing.status !== 'deleted') {
      if (request.clientRequestToken && existing.clientRequestToken === request.clientRequestToken) {
        if (runningWorkflow(existing, 'provision-lab') && request.start !== false)
          await startRecorded(deps, existing);
        return { outcome: 'replayed', lab: existing };
      }
      return { outcome: 'conflict', lab: existing };
    }
    const generation = (existing?.generation ?? 0) + 1;
    const at = epochSeconds(now);
    const lab: LabRecord = {
      labId,
      status: 'provisioning',
      generation,
      executionName: newExecutionName(labId, generation, 'provision-lab', now),
      workflow: 'provision-lab',
      options: request.options as Record<string, unknown>,
      steps: {},
      ledger: {},
      owner: request.owner,
      requestedBy: request.requestedBy,
      classId: request.classId,
      clientRequestToken: request.clientRequestToken,
      expiresAt: at + Math.round(request.expiresInHours * 3600),
      nightlyReset: request.nightlyReset,
      resetAt: request.nightlyReset ? at + RESET_GUARD_SECONDS : undefined,
      createdAt: now.toISOString(),
      updatedAt: now.toISOString(),
      version: 1,
    };
    if (await deps.registry.labs.putLab(lab, existing)) {
      if (request.start !== false) await startRecorded(deps, lab);
      return { outcome: 'created', lab };
    }
    // Someone else wrote the record meanwhile: look again (a replay of ours, or a conflict).
  }
  throw new Error(`lab ${labId} keeps changing; try again`);
}

/**
 * Resets a ready or failed lab: a new generation, a new execution name (so new client tokens),
 * cleared progress, and the reset workflow (teardown, then provision with the same options).
 */
export async function resetLab(deps: LifecycleDeps, labId: string): Promise<ChangeOutcome> {
  const now = (deps.clock ?? (() => new Date()))();
  const result = await deps.registry.labs.mutateLab(labId, (lab): LabChanges | undefined => {
    if (lab.status !== 'ready' && lab.status !== 'failed') return undefined;
    const generation = lab.generation + 1;
    return {
      status: 'provisioning',
      generation,
      workflow: 'reset-lab',
      executionName: newExecutionName(labId, generation, 'reset-lab', now),
      steps: {},
      ledger: {},
      currentStep: null,
      report: null,
      error: null,
      resetAt: lab.nightlyReset ? epochSeconds(now) + RESET_GUARD_SECONDS : null,
    };
  });
  if (!result) return { outcome: 'not-found' };
  if (result.changed) {
    await startRecorded(deps, result.lab);
    return { outcome: 'started', lab: result.lab };
  }
  if (runningWorkflow(result.lab, 'reset-lab')) {
    await startRecorded(deps, result.lab);
    return { outcome: 'in-progress', lab: result.lab };
  }
  return { outcome: 'busy', lab: result.lab };
}

/**
 * Tears a ready or failed lab down (same generation, new execution name). Idempotent: a lab
 * already tearing down re-starts its recorded run, a deleted lab stays deleted. A lab being
 * provisioned is busy: tearing it down under a running provision would race it.
 */
export async function teardownLab(deps: LifecycleDeps, labId: string): Promise<ChangeOutcome> {
  const now = (deps.clock ?? (() => new Date()))();
  const result = await deps.registry.labs.mutateLab(labId, (lab): LabChanges | undefined => {
    if (lab.status !== 'ready' && lab.status !== 'failed') return undefined;
    return {
      status: 'tearing-down',
      workflow: 'teardown-lab',
      executionName: newExecutionName(labId, lab.generation, 'teardown-lab', now),
      currentStep: null,
      error: null,
    };
  });
  if (!result) return { outcome: 'not-found' };
  if (result.changed) {
    await startRecorded(deps, result.lab);
    return { outcome: 'started', lab: result.lab };
  }
  if (result.lab.status === 'deleted') return { outcome: 'in-progress', lab: result.lab };
  if (runningWorkflow(result.lab, 'teardown-lab')) {
    await startRecorded(deps, result.lab);
    return { outcome: 'in-progress', lab: result.lab };
  }
  return { outcome: 'busy', lab: result.lab };
}

/** The changes that mark a lab deleted: report gone, no more resets, record purged by TTL later. */
export function deletedChanges(now: Date): LabChanges {
  return {
    status: 'deleted',
    currentStep: null,
    report: null,
    nightlyReset: false,
    resetAt: null,
    expiresAt: epochSeconds(now) + DELETED_RECORD_DAYS * 86400,
  };
}
