import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type middy from '@middy/core';
import type { Context } from 'aws-lambda';
import * as z from 'zod';
import { awsClient } from './clients.js';
import { readEnv } from './env.js';
import { RETRYABLE_ERRORS } from './errors.js';
import { logger } from './logger.js';
import { labIdSchema } from './names.js';
import type { LabStep, StepStatus } from './registry/lab-record.js';
import { LabRecords } from './registry/lab-records.js';
import { clip, ledgerOf } from './registry/redaction.js';
import { RegistryTable, documentClient, registryEnvSchema } from './registry/table.js';

/** The EventBridge `source` and `detail-type` of a progress event (a portal subscribes to these). */
export const PROGRESS_SOURCE = 'session-lab';
export const PROGRESS_DETAIL_TYPE = 'Lab Step Changed';

/** The `detail` of a progress event: ids and states only, never a secret or a task's output. */
export interface StepChangedDetail {
  labId: string;
  step: string;
  status: StepStatus;
  generation: number;
}

export const progressEnvSchema = registryEnvSchema.extend({
  /** The bus for progress events; the account's default bus when unset. */
  EVENT_BUS_NAME: z
    .string()
    .regex(/^[A-Za-z0-9._\-/:]{1,1600}$/, 'must be an event bus name or ARN')
    .optional(),
  /** The step name as the state machine shows it; derived from the function name when unset. */
  STEP_NAME: z.string().min(1).max(128).optional(),
});

/** `session-lab-create-key-pair` (or `create-key-pair`) -> `Create key pair`: the state's name in the workflows. */
export function stepNameOfFunction(functionName: string): string {
  const folder = functionName.replace(/^session-lab-/, '');
  const words = folder.split('-').join(' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/**
 * The lab a task's event is about: `labId` at the top (teardown tasks, and provision tasks on an
 * account-wide resource), in `lab` (provision tasks) or in `input` (the validation of the
 * execution input); the run from `lab.runId`, or `runId` at the top.
 */
export function labOfEvent(event: unknown): { labId: string; runId?: string } | undefined {
  const record = (event ?? {}) as {
    labId?: unknown;
    runId?: unknown;
    lab?: { labId?: unknown; runId?: unknown };
    input?: { labId?: unknown };
  };
  const labId = typeof record.labId === 'string' ? record.labId : (record.lab?.labId ?? record.input?.labId);
  if (!labIdSchema.safeParse(labId).success) return undefined;
  const runId = record.lab?.runId ?? record.runId;
  return { labId: labId as string, runId: typeof runId === 'string' ? runId : undefined };
}

/**
 * The execution names that may record a run's progress: the run itself and, for a reset's child
 * (`<reset>-provision`, `<reset>-teardown`), the reset the registry records as the lab's run.
 */
export function runIdsOf(runId: string): string[] {
  const parent = runId.replace(/-(provision|teardown)$/, '');
  return parent === runId ? [runId] : [runId, parent];
}

export interface ProgressClients {
  labs: (table: string) => LabRecords;
  events: Pick<EventBridgeClient, 'send'>;
}

const defaultClients = (): ProgressClients => ({
  labs: (table) => new LabRecords(new RegistryTable(documentClient(), table)),
  events: awsClient(EventBridgeClient),
});

/** Where a function's progress goes: its lab records and bus, from its environment. */
interface Destination {
  labs: LabRecords;
  events: ProgressClients['events'];
  busName?: string;
  /** STEP_NAME, when the deployment sets it. */
  stepName?: string;
}

interface Tracking {
  to: Destination;
  labId: string;
  runIds?: string[];
  step: string;
  startedAt: string;
  /** The `running` record, sent alongside the task's own work and awaited before the end record. */
  started?: Promise<void>;
}

const tracking = new WeakMap<object, Tracking>();

async function publish(tracked: Tracking, step: LabStep, ledger?: Record<string, string>): Promise<void> {
  // Progress is best effort: a throttled registry or bus must never fail the lab's real work.
  try {
    const lab = await tracked.to.labs.recordStep(tracked.labId, step, { ledger, runIds: tracked.runIds });
    if (!lab) return; // not a registered lab, or not its current run: nothing to report
    const detail: StepChangedDetail = {
      labId: tracked.labId,
      step: step.name,
      status: step.status,
      generation: lab.generation,
    };
    const result = await tracked.to.events.send(
      new PutEventsCommand({
        Entries: [
          {
            Source: PROGRESS_SOURCE,
            DetailType: PROGRESS_DETAIL_TYPE,
            Detail: JSON.stringify(detail),
            ...(tracked.to.busName ? { EventBusName: tracked.to.busName } : {}),
          },
        ],
      }),
    );
    if (result.FailedEntryCount) {
      logger.warn('progress event not accepted', { step: step.name, error: result.Entries?.[0]?.ErrorCode });
    }
  } catch (err) {
    logger.warn('could not record step progress', { step: step.name, error: (err as Error).name });
  }
}

/**
 * Middy middleware recording a task's start, end and failure on its lab's registry item and as a
 * `Lab Step Changed` event. Off when the deployment sets no REGISTRY_TABLE and for events that
 * name no lab. A function's environment is fixed for its container's life, so it is read once, at
 * the first invocation rather than at initialisation: a malformed setting fails the invocation as
 * a ConfigurationError naming the variable, which the workflow reports as the step's error.
 */
export function registryProgress(
  clients: () => ProgressClients = defaultClients,
): middy.MiddlewareObj<unknown, unknown, Error, Context> {
  let destination: Destination | null | undefined;
  const destinationOf = (): Destination | null => {
    if (destination !== undefined) return destination;
    const env = readEnv(progressEnvSchema);
    if (!env.REGISTRY_TABLE) return (destination = null);
    const { labs, events } = clients();
    return (destination = {
      labs: labs(env.REGISTRY_TABLE),
      events,
      busName: env.EVENT_BUS_NAME,
      stepName: env.STEP_NAME,
    });
  };
  return {
    before: async (request) => {
      const to = destinationOf();
      if (!to) return;
      const lab = labOfEvent(request.event);
      if (!lab) return;
      const tracked: Tracking = {
        to,
        labId: lab.labId,
        // A task that knows its run: only the lab's current run (or its reset parent) may write.
        runIds: lab.runId ? runIdsOf(lab.runId) : undefined,
        step: to.stepName ?? stepNameOfFunction(request.context.functionName ?? 'task'),
        startedAt: new Date().toISOString(),
      };
      tracking.set(request, tracked);
      // Not awaited here: the task starts at once (two calls saved on every step's latency, every
      // poll's included); `after` / `onError` wait for it, so the end never lands before the start.
      tracked.started = publish(tracked, {
        name: tracked.step,
        status: 'running',
        startedAt: tracked.startedAt,
      });
    },
    after: async (request) => {
      const tracked = tracking.get(request);
      if (!tracked) return;
      await tracked.started;
      const response = request.response as { ready?: unknown } | undefined;
      const status: StepStatus = response?.ready === false ? 'waiting' : 'succeeded';
      await publish(
        tracked,
        { name: tracked.step, status, startedAt: tracked.startedAt, endedAt: new Date().toISOString() },
        ledgerOf(request.response),
      );
    },
    onError: async (request) => {
      const tracked = tracking.get(request);
      if (!tracked || !request.error) return;
      await tracked.started;
      const name = request.error.name;
      const retrying = (RETRYABLE_ERRORS as readonly string[]).includes(name);
      await publish(tracked, {
        name: tracked.step,
        status: retrying ? 'retrying' : 'failed',
        startedAt: tracked.startedAt,
        endedAt: new Date().toISOString(),
        error: { error: name, cause: clip(request.error.message) },
      });
    },
  };
}
