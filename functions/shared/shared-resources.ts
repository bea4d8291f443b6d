import * as z from 'zod';
import { logger } from './logger.js';
import { pollUntil } from './polling.js';
import { labReferenceSchema, type LabConfig } from './lab-config.js';

/**
 * The account- and Region-wide singletons every lab shares, as the
 * registry counts their holders. Only the tier and the preferences document are ever reverted:
 * the roles and the log group cost nothing idle, and the log group keeps the session logs.
 */
export const SHARED_KEYS = {
  advancedTier: 'advanced-tier',
  preferences: 'session-preferences',
  sharedRoles: 'shared-roles',
  logGroup: (logGroupName: string) => `log-group:${logGroupName}`,
} as const;

export const REVERTIBLE_KEYS: readonly string[] = [SHARED_KEYS.advancedTier, SHARED_KEYS.preferences];

/** The preferences fields of a lab: labs holding the document together must agree on all of them. */
export function preferencesConfig(lab: LabConfig): Record<string, unknown> {
  return {
    logGroupName: lab.logGroupName,
    cloudWatchStreaming: lab.cloudWatchStreaming,
    idleSessionTimeoutMinutes: lab.idleSessionTimeoutMinutes,
    logKmsKeyArn: lab.logKmsKeyArn,
    s3BucketName: lab.s3BucketName,
    runAsUser: lab.runAsUser,
  };
}

/** `REVERT_SHARED_ON_LAST_RELEASE`: whether the last lab to release the tier and preferences reverts them. */
export const revertEnvSchema = z.object({
  REVERT_SHARED_ON_LAST_RELEASE: z
    .enum(['true', 'false'], { message: 'must be true or false' })
    .default('false')
    .transform((value) => value === 'true'),
});

/** The tier as it was before session-lab changed it. */
export interface TierSnapshot {
  value: string;
}

/** The preferences document as it was before session-lab changed it (preferences, not secrets). */
export interface DocumentSnapshot {
  exists: boolean;
  content?: string;
  format?: string;
}

/**
 * How long a holder that is not a singleton's first holder waits for the first one to create it
 * before creating it itself: the first holder's creation takes seconds, and waiting is what keeps
 * a class provisioned at once from sending every creation call once per lab against the
 * account-wide rate limits. Past the grace the first holder is presumed failed (its execution may
 * be gone), and the waiting labs converge the singleton themselves (idempotently) instead. Below
 * every such task's Lambda timeout (120 s), with room left for the convergence.
 */
export const FIRST_HOLDER_GRACE_SECONDS = 60;

/** How often a waiting holder checks: at once, then from 1 s apart up to 5 s apart (jittered). */
const FIRST_HOLDER_POLL = { minDelaySeconds: 1, maxDelaySeconds: 5 };

/**
 * What a task converging a singleton is told of the lab's holding: `converge` (the first holder,
 * or no registry) converges it fully; otherwise the task only checks it is there, waits for the
 * first holder while it may still be creating it, and converges it itself after the grace.
 */
export const sharedUseSchema = z.object({
  converge: z.boolean().default(true),
  heldSince: z.iso.datetime({ message: 'must be an ISO 8601 time' }).optional(),
});

/**
 * The input of a task on a singleton that needs nothing of the lab (the shared roles): the lab id
 * and run only let its progress be recorded; the holding says whether it converges.
 */
export const singletonTaskInputSchema = labReferenceSchema.extend(sharedUseSchema.shape);

/** Without `converge` (a caller that is not told of holdings, such as a plain CLI run) it converges. */
export type SharedUse = z.input<typeof sharedUseSchema>;

/** Seconds left of the first holder's grace for a singleton held since `heldSince` (0 when unknown). */
export function firstHolderGraceLeft(heldSince: string | undefined, nowMs = Date.now()): number {
  if (!heldSince) return 0;
  return Math.max(0, FIRST_HOLDER_GRACE_SECONDS - (nowMs - Date.parse(heldSince)) / 1000);
}

/**
 * Where the holders of a singleton tell each other it is converged for the current holding, with
 * what its users need of it: the lab registry's mark (shared/registry/ready-marks.ts).
 */
export interface ReadyMarks<T> {
  read(heldSince: string): Promise<T | undefined>;
  mark(heldSince: string, value: T): Promise<void>;
}

/**
 * Uses a singleton another lab creates, or converges it: a holder told to converge does so (and,
 * with `marks`, records it ready for this holding); any other takes it as it is once it is
 * complete, checking again with back-off while the first holder may still be creating it, and
 * converges it itself after the grace. "Complete" is the first holder's mark in the registry when
 * there is one (`marks`: a read of the registry, none of the account's rate-limited APIs: a class
 * started together polled IAM's read limit empty this way while its first holder was creating the
 * roles), else `ready` (a read or two of the resource itself). The wait is in the function, not a
 * workflow Retry: it then lasts the grace whatever the Retry schedule (or a test's scaled one) allows.
 */
export async function useOrConverge<T>(
  use: SharedUse,
  what: string,
  ready: () => Promise<T | undefined>,
  converge: () => Promise<T>,
  marks?: ReadyMarks<T>,
): Promise<T> {
  const heldSince = use.heldSince;
  const convergeAndMark = async () => {
    const value = await converge();
    if (marks && heldSince) await marks.mark(heldSince, value);
    return value;
  };
  if (use.converge !== false) return convergeAndMark();
  const check = marks && heldSince ? () => marks.read(heldSince) : ready;
  const found = await pollUntil(check, {
    maxWaitSeconds: firstHolderGraceLeft(heldSince),
    ...FIRST_HOLDER_POLL,
  });
  if (found !== undefined) return found;
  logger.warn('the first holder has not completed a shared resource within its grace: converging it', {
    resource: what,
    heldSince,
  });
  return convergeAndMark();
}
