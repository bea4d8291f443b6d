import * as z from 'zod';
import { parseInput } from '../shared/input.js';
import { labIdSchema } from '../shared/names.js';
import { deletedChanges } from '../shared/lab-lifecycle.js';
import { runIdSchema } from '../shared/lab-config.js';
import {
  LAB_STATUSES,
  currentRunIds,
  isResetTeardown,
  type LabChanges,
  type LabRecord,
  type LabStatus,
  type WorkflowName,
} from '../shared/registry/lab-record.js';
import type { LabRegistry } from '../shared/registry/lab-registry.js';
import { clip, withoutSecrets } from '../shared/registry/redaction.js';

const statusSchema = z
  .object({
    labId: labIdSchema,
    status: z.enum(LAB_STATUSES),
    /** `$$.Execution.Name`: only the lab's current run (or its reset's children) may end it. */
    executionName: runIdSchema.optional(),
    /** The lab report (verify-lab's output) on success; secret-named fields are dropped anyway. */
    report: z.record(z.string(), z.unknown()).optional(),
    /** The failure as the Catch path recorded it: `{ step, Error, Cause }` or `{ step, error, cause }`. */
    error: z
      .object({
        step: z.string().max(128).optional(),
        error: z.string().max(4096).optional(),
        Error: z.string().max(4096).optional(),
        cause: z.string().optional(),
        Cause: z.string().optional(),
      })
      .optional(),
  })
  .strict();

/**
 * The status to record. The workflows' failure paths pass the execution input as `input` instead
 * of `labId` (`$$.Execution.Input`: the lab id may be missing from a bad input, and a missing path
 * would fail the execution with States.Runtime, hiding the real error): its `labId` is the lab.
 */
export const inputSchema = z.preprocess((event) => {
  if (!event || typeof event !== 'object' || !('input' in event)) return event;
  const { input, ...rest } = event as Record<string, unknown>;
  const fromInput = input && typeof input === 'object' ? (input as { labId?: unknown }).labId : undefined;
  return rest.labId === undefined && fromInput !== undefined ? { ...rest, labId: fromInput } : rest;
}, statusSchema);
export type RecordLabStatusInput =
  z.input<typeof statusSchema> | (Omit<z.input<typeof statusSchema>, 'labId'> & { input: unknown });

export interface RecordLabStatusOutput {
  labId: string;
  /** The status the lab has now. */
  status: LabStatus | 'unregistered';
  recorded: boolean;
  generation?: number;
  reason?: string;
}

const STARTS: readonly LabStatus[] = ['provisioning', 'tearing-down'];

/** The workflows name the failed step in the error: `Launch instances failed: NotReadyYet`. */
export function stepOfError(error: string): string | undefined {
  return /^(.{1,128}?) failed: /.exec(error)?.[1];
}

function failureOf(error: z.output<typeof inputSchema>['error']) {
  const name = error?.error ?? error?.Error ?? 'Failed';
  const cause = error?.cause ?? error?.Cause;
  const step = error?.step ?? stepOfError(name);
  return {
    ...(step ? { step } : {}),
    error: clip(name, 512),
    ...(cause ? { cause: clip(cause) } : {}),
  };
}

/** The changes `input` makes to `lab`, or why it makes none. */
function decide(
  lab: LabRecord,
  input: z.output<typeof inputSchema>,
  now: Date,
): { changes?: LabChanges; reason?: string } {
  const { status, executionName } = input;
  const ours = !executionName || currentRunIds(lab).includes(executionName);
  if (STARTS.includes(status)) {
    // A reset's children report their own starts; the lab stays `provisioning` for the whole reset.
    if (ours)
      return lab.status === status || lab.workflow === 'reset-lab'
        ? { reason: 'unchanged' }
        : { changes: { status } };
    // A run nobody recorded (started from the console): the newest run is the lab's.
    const workflow: WorkflowName = status === 'provisioning' ? 'provision-lab' : 'teardown-lab';
    return {
      changes: {
        status,
        workflow,
        executionName,
        generation: workflow === 'provision-lab' ? lab.generation + 1 : lab.generation,
        steps: {},
        currentStep: null,
        error: null,
        ...(workflow === 'provision-lab' ? { report: null, ledger: {} } : {}),
      },
    };
  }
  if (!ours) return { reason: `stale: ${executionName} is not the lab's current run ${lab.executionName}` };
  if (status === 'deleted' && isResetTeardown(lab, executionName)) return { reason: 'reset continues' };
  if (status === 'ready') {
    return {
      changes: { status, report: withoutSecrets(input.report) ?? null, error: null, currentStep: null },
    };
  }
  if (status === 'failed') {
    // The first failure of a run is the precise one (a task's own, or a reset's child's); a later
    // report of the same run (the reset parent, the status-change rule) adds nothing.
    if (lab.status === 'failed' && lab.error) return { reason: 'failure already recorded' };
    return { changes: { status, error: failureOf(input.error) } };
  }
  return { changes: deletedChanges(now) };
}

/**
 * Sets a lab's status at a workflow's start or end: `ready` with the report, `failed` with the
 * step and reason, `deleted` (the record stays a week, then TTL purges it). Only the lab's current
 * run may end it, so a late or foreign execution cannot overwrite a newer generation. A run the
 * registry does not know (started from the console) is adopted when it starts. In a deployment
 * without a registry it records nothing.
 */
export async function recordLabStatus(
  input: z.output<typeof inputSchema>,
  deps: { registry?: LabRegistry; clock?: () => Date },
): Promise<RecordLabStatusOutput> {
  const { labId } = input;
  if (!deps.registry)
    return { labId, status: 'unregistered', recorded: false, reason: 'no registry configured' };
  const now = (deps.clock ?? (() => new Date()))();
  let reason: string | undefined;
  const result = await deps.registry.labs.mutateLab(labId, (lab) => {
    const decision = decide(lab, input, now);
    reason = decision.reason;
    return decision.changes;
  });
  if (result) {
    return {
      labId,
      status: result.lab.status,
      recorded: result.changed,
      generation: result.lab.generation,
      ...(result.changed ? {} : { reason }),
    };
  }
  if (input.status !== 'provisioning' || !input.executionName) {
    return { labId, status: 'unregistered', recorded: false, reason: 'no such lab in the registry' };
  }
  // A provisioning run started from the console for a lab the registry has never seen.
  const at = now.toISOString();
  const lab: LabRecord = {
    labId,
    status: 'provisioning',
    generation: 1,
    executionName: input.executionName,
    workflow: 'provision-lab',
    options: { labId },
    steps: {},
    ledger: {},
    expiresAt: Math.floor(now.getTime() / 1000) + 7 * 86400,
    nightlyReset: false,
    createdAt: at,
    updatedAt: at,
    version: 1,
  };
  const created = await deps.registry.labs.putLab(lab);
  if (!created) return recordLabStatus(input, deps);
  return { labId, status: 'provisioning', recorded: true, generation: 1 };
}

/** What a Step Functions execution's end means for its lab. */
export interface WorkflowOutcome {
  workflow: WorkflowName;
  executionName: string;
  status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  input: unknown;
  output?: unknown;
  error?: string;
  cause?: string;
}

/** The report inside a workflow's output: provision's output is the report; reset's is its provision child's. */
function reportOf(output: unknown): Record<string, unknown> | undefined {
  if (!output || typeof output !== 'object') return undefined;
  const record = output as Record<string, unknown>;
  if ('accessMatrix' in record || 'nodes' in record) return record;
  if (typeof record.Output === 'string') {
    try {
      return reportOf(JSON.parse(record.Output));
    } catch {
      return undefined;
    }
  }
  return reportOf(record.Output);
}

/**
 * The status record for an ended execution, as the EventBridge "Step Functions Execution Status
 * Change" rule (deployed) or the local starter (locally) sees it: a safety net that also covers
 * executions a Catch cannot (aborted, timed out). Undefined when the input names no lab.
 */
export function outcomeToStatus(outcome: WorkflowOutcome): z.output<typeof inputSchema> | undefined {
  const labId = (outcome.input as { labId?: unknown } | null)?.labId;
  if (!labIdSchema.safeParse(labId).success) return undefined;
  const base = { labId: labId as string, executionName: outcome.executionName };
  if (outcome.status !== 'SUCCEEDED') {
    const error = outcome.error ?? outcome.status;
    const step = stepOfError(error) ?? outcome.workflow;
    return { ...base, status: 'failed', error: { step, error, cause: outcome.cause } };
  }
  if (outcome.workflow === 'teardown-lab') return { ...base, status: 'deleted' };
  return { ...base, status: 'ready', report: reportOf(outcome.output) };
}

/** The `detail` of an EventBridge "Step Functions Execution Status Change" event (the fields used). */
export const statusChangeSchema = z.object({
  'detail-type': z.literal('Step Functions Execution Status Change'),
  detail: z.object({
    name: runIdSchema,
    stateMachineArn: z.string(),
    status: z.enum(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'RUNNING', 'PENDING_REDRIVE']),
    input: z.string().nullish(),
    output: z.string().nullish(),
    error: z.string().nullish(),
    cause: z.string().nullish(),
  }),
});

const parseJson = (text: string | null | undefined) => {
  try {
    return text ? (JSON.parse(text) as unknown) : undefined;
  } catch {
    return undefined;
  }
};

/**
 * The status record for a status-change event; `workflow` is known from the rule (each state
 * machine's rule passes it), else read from the state machine's name. Undefined for a running
 * execution or one whose input names no lab.
 */
export function statusChangeToStatus(
  event: z.output<typeof statusChangeSchema>,
  workflowOf: (stateMachineArn: string) => WorkflowName | undefined,
): z.output<typeof inputSchema> | undefined {
  const { detail } = event;
  if (detail.status === 'RUNNING' || detail.status === 'PENDING_REDRIVE') return undefined;
  const workflow = workflowOf(detail.stateMachineArn);
  if (!workflow) return undefined;
  return outcomeToStatus({
    workflow,
    executionName: detail.name,
    status: detail.status,
    input: parseJson(detail.input),
    output: parseJson(detail.output),
    error: detail.error ?? undefined,
    cause: detail.cause ?? undefined,
  });
}

/** `...:stateMachine:session-lab-provision-lab` (or a CDK name such as `ProvisionLab...`) -> `provision-lab`. */
export function workflowOfArn(arn: string): WorkflowName | undefined {
  const name = (arn.split(':').pop() ?? '').toLowerCase().replace(/[^a-z]/g, '');
  if (name.includes('provisionlab')) return 'provision-lab';
  if (name.includes('teardownlab')) return 'teardown-lab';
  if (name.includes('resetlab')) return 'reset-lab';
  return undefined;
}

/**
 * The function's two callers: the workflows' success and failure paths (`{ labId, status,
 * executionName, ... }`), and the EventBridge rule on the workflows' execution status changes.
 */
export async function recordFromEvent(
  event: unknown,
  deps: { registry?: LabRegistry; clock?: () => Date },
): Promise<RecordLabStatusOutput | { recorded: false; reason: string }> {
  if ((event as Record<string, unknown> | null)?.['detail-type'] !== undefined) {
    const status = statusChangeToStatus(parseInput(statusChangeSchema, event), workflowOfArn);
    if (!status) return { recorded: false, reason: 'not the end of a lab workflow' };
    return recordLabStatus(status, deps);
  }
  return recordLabStatus(parseInput(inputSchema, event), deps);
}
