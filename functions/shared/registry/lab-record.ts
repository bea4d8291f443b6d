/**
 * What the registry holds for one lab: status, per-step progress, resource ledger, report, owner,
 * expiry, generation, and the run working on it. Types and pure helpers only, importing nothing,
 * so code that shows or passes records along (the CLI's `list --help` among it) does not load the
 * DynamoDB clients; lab-records.ts reads and writes them.
 */

/** The statuses a lab goes through. */
export const LAB_STATUSES = ['provisioning', 'ready', 'failed', 'tearing-down', 'deleted'] as const;
export type LabStatus = (typeof LAB_STATUSES)[number];

/** `waiting`: a poll task answered "not yet"; `retrying`: it threw a retryable error. */
export type StepStatus = 'running' | 'waiting' | 'retrying' | 'succeeded' | 'failed';

export const WORKFLOWS = ['provision-lab', 'teardown-lab', 'reset-lab'] as const;
export type WorkflowName = (typeof WORKFLOWS)[number];

export interface StepError {
  error: string;
  cause?: string;
}

export interface LabStep {
  name: string;
  status: StepStatus;
  startedAt: string;
  endedAt?: string;
  error?: StepError;
}

/** Why a workflow failed: the step (when known), the error name and its cause. */
export interface LabFailure {
  step?: string;
  error: string;
  cause?: string;
}

/** One lab as the registry holds it. */
export interface LabRecord {
  labId: string;
  status: LabStatus;
  /** 1 at creation, +1 per reset (and per re-creation of a deleted lab id). */
  generation: number;
  /** The execution currently working on the lab; unique per run (names are not reusable for 90 days). */
  executionName: string;
  workflow: WorkflowName;
  /** The provision input (labInputSchema output): what a reset provisions again. */
  options: Record<string, unknown>;
  currentStep?: string;
  steps: Record<string, LabStep>;
  /** Resource ids, names and ARNs each step reported (no secret values). */
  ledger: Record<string, Record<string, string>>;
  report?: Record<string, unknown>;
  error?: LabFailure;
  owner?: string;
  /** The signed caller that asked for the lab (API Gateway's caller identity), never a body field. */
  requestedBy?: string;
  classId?: string;
  clientRequestToken?: string;
  /** Epoch seconds; the table's TTL attribute. The schedule tears the lab down once it passes. */
  expiresAt: number;
  /** Reset by every run of the reset schedule once `resetAt` has passed. */
  nightlyReset: boolean;
  /** Epoch seconds from which the lab is due for its next scheduled reset. */
  resetAt?: number;
  createdAt: string;
  updatedAt: string;
  version: number;
}

/** Fields a change may set; `null` removes an optional one. */
type Mutable = Omit<LabRecord, 'labId' | 'createdAt' | 'updatedAt' | 'version'>;
export type LabChanges = {
  [K in keyof Mutable]?: Mutable[K] | (undefined extends Mutable[K] ? null : never);
};

/** True when `executionName` is the teardown child of the lab's current reset (reset-lab names it `<reset>-teardown`). */
export function isResetTeardown(lab: LabRecord, executionName: string | undefined): boolean {
  return lab.workflow === 'reset-lab' && executionName === `${lab.executionName}-teardown`;
}

/** The execution names that count as the lab's current run: its own, and a reset's two children. */
export function currentRunIds(lab: LabRecord): string[] {
  return lab.workflow === 'reset-lab'
    ? [lab.executionName, `${lab.executionName}-teardown`, `${lab.executionName}-provision`]
    : [lab.executionName];
}
