import { z } from 'zod';
import type { LabConfig } from './lab-config.js';

/**
 * The account- and Region-wide singletons every lab shares (facts sheet 0.3 and 10), as the
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
