import * as z from 'zod';
import type { LabClients } from '../shared/clients.js';
import { parseInput } from '../shared/input.js';
import { checkPolicyModeAllowed, labInputSchema, runIdSchema, type LabConfig } from '../shared/lab-config.js';
import { checkLabScope } from '../shared/lab-scope.js';

/**
 * What the provision state machine's first state passes: the execution input untouched, and the
 * execution name as `runId` (`{"input.$": "$", "runId.$": "$$.Execution.Name"}`). The execution input
 * is parsed by the task, not here, so an error names the user's field (`labId`, not `input.labId`).
 */
export const inputSchema = z.object({ input: z.unknown(), runId: z.unknown() }).strict();
export type ValidateLabInputInput = z.output<typeof inputSchema>;

/**
 * The edge of the provision workflow: returns the LabConfig with its defaults, or throws
 * InvalidLabInput naming the offending field (unknown fields included). It creates nothing. A
 * `logKmsKeyArn` or `s3BucketName` is checked against the account too (shared/lab-scope.ts): only
 * then does the task call AWS (GetCallerIdentity, and S3 for the bucket's owner). `policyMode: "seed"`
 * is refused when the deployment does not allow it (`allowSeedPolicyMode`, default true).
 */
export async function validateLabInput(
  event: ValidateLabInputInput,
  clients: Pick<LabClients, 's3' | 'sts'>,
  options: { allowSeedPolicyMode?: boolean } = {},
): Promise<LabConfig> {
  const lab = parseInput(labInputSchema, event.input);
  const runId = parseInput(z.object({ runId: runIdSchema }), { runId: event.runId }).runId;
  checkPolicyModeAllowed(lab.policyMode, options.allowSeedPolicyMode ?? true);
  await checkLabScope(lab, clients);
  return { ...lab, runId };
}
