import * as z from 'zod';
import { InvalidLabInput } from './errors.js';
import { SHARED_NAMES, labIdSchema } from './names.js';

/** CloudWatch Logs accepts only these retention periods. */
export const RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/**
 * True for an AWS Graviton (arm64) instance type. The lab launches the x86_64 Amazon Linux 2023 AMI
 * (`SHARED_NAMES.amiParameter`), which an arm64 type cannot boot, so such a type must be refused
 * before anything is created. A type's family is a series (`m`, `c`, `t`, `hpc`, `im`...), a
 * generation digit and attribute letters; the attribute `g` is the Graviton processor (t4g, m6gd,
 * c7gn, im4gn, is4gen, g5g), while a leading `g` is the GPU series (g4dn, g6 are x86_64). The
 * first-generation Graviton family `a1` carries no such letter.
 */
export function isGravitonInstanceType(instanceType: string): boolean {
  const family = instanceType.split('.')[0]!;
  if (family === 'a1') return true;
  const attributes = /^[a-z]+\d+([a-z]*)/.exec(family)?.[1] ?? '';
  return attributes.includes('g');
}

/**
 * The log groups a lab may name as its session log group: the seed's `SSM-Logs` or a group under
 * this prefix. The group is shared by every lab of the Region and configure-session-logging sets
 * its retention and encryption, so a free choice would let one lab's input change any group of
 * the account (a function's `/aws/lambda/...` group, another product's audit log). Its role may
 * change only these groups (infra/permissions.ts).
 */
export const SESSION_LOG_GROUP_PREFIX = '/session-lab/';

/** True for a log group name a lab may use (`SESSION_LOG_GROUP_PREFIX`). */
export function isSessionLogGroupName(name: string): boolean {
  return (
    name === SHARED_NAMES.defaultLogGroup ||
    (name.startsWith(SESSION_LOG_GROUP_PREFIX) && name.length > SESSION_LOG_GROUP_PREFIX.length)
  );
}

const awsId = (prefix: string) =>
  z.string().regex(new RegExp(`^${prefix}-[0-9a-f]{8,17}$`), `must be a ${prefix}- id`);

/**
 * The input of the provision workflow, the API and the CLI: small, every field but `labId`
 * optional with a default, unknown fields refused, so `{"labId": "demo"}` from the console works
 * and a typo fails at once naming the field.
 */
export const labInputSchema = z
  .object({
    labId: labIdSchema,
    /** `strict` (default): the deny covers EC2 and managed instances and the allow is limited to the lab's own nodes; `seed`: the seed's policy as written. */
    policyMode: z.enum(['strict', 'seed']).default('strict'),
    instanceType: z
      .string()
      .regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, 'must be an EC2 instance type such as t3.micro')
      .max(32)
      .refine(
        (type) => !isGravitonInstanceType(type),
        'must be an x86_64 instance type: the lab AMI is x86_64, so Graviton (arm64) types cannot boot it',
      )
      .default('t3.micro'),
    logGroupName: z
      .string()
      .min(1)
      .max(512)
      .regex(/^[.\-_/#A-Za-z0-9]+$/, 'may contain only letters, digits and . - _ / #')
      .refine(
        isSessionLogGroupName,
        `must be ${SHARED_NAMES.defaultLogGroup} or a name under ${SESSION_LOG_GROUP_PREFIX}`,
      )
      .default(SHARED_NAMES.defaultLogGroup),
    logRetentionDays: z
      .number()
      .int()
      .refine(
        (days) => (RETENTION_DAYS as readonly number[]).includes(days),
        'must be a CloudWatch Logs retention period',
      )
      .default(30),
    /** Stream session output as it happens (true) or upload it when the session ends (false). */
    cloudWatchStreaming: z.boolean().default(true),
    /**
     * A KMS key ARN: the log group is encrypted with it and the preferences say so. Its account and
     * Region must be the lab's, checked at run time by validate-lab-input (lab-scope.ts).
     */
    logKmsKeyArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[0-9a-f-]{36}$/, 'must be a KMS key ARN')
      .optional(),
    /** Also keep session logs in this bucket; it must belong to the lab's account (lab-scope.ts). */
    s3BucketName: z
      .string()
      .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name')
      .optional(),
    idleSessionTimeoutMinutes: z.number().int().min(1).max(60).default(20),
    runAsUser: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'must be a Linux user name')
      .optional(),
    vpcId: awsId('vpc').optional(),
    subnetId: awsId('subnet').optional(),
    /**
     * How long the hybrid activations stay usable: no longer than registration can take (minutes;
     * the registration poll gives up after about 16). close-bootstrap-access deletes them sooner.
     */
    activationExpiryHours: z
      .number()
      .int()
      .min(1)
      .max(1, 'must be at most 1 hour: registration takes minutes')
      .default(1),
    owner: z
      .string()
      .max(128)
      .regex(/^[\w+=,.@ -]*$/, 'has characters not allowed')
      .optional(),
  })
  .strict();

export type LabInput = z.input<typeof labInputSchema>;

/**
 * `ALLOW_SEED_POLICY_MODE` (CDK context `allowSeedPolicyMode`, default true): whether lab input may
 * select `policyMode: "seed"`. Read by validate-lab-input and the API routes that take lab input.
 */
export const policyModeEnvSchema = z.object({
  ALLOW_SEED_POLICY_MODE: z
    .enum(['true', 'false'], { message: 'must be true or false' })
    .default('true')
    .transform((value) => value === 'true'),
});

/**
 * Refuses `policyMode: "seed"` when the deployment does not allow it: InvalidLabInput naming
 * `field` (`policyMode`; `options.policyMode` in a class request), before anything is created.
 */
export function checkPolicyModeAllowed(
  policyMode: string | undefined,
  allowSeedPolicyMode: boolean,
  field = 'policyMode',
): void {
  if (policyMode === 'seed' && !allowSeedPolicyMode) {
    throw new InvalidLabInput(
      field,
      'seed is refused by this deployment (allowSeedPolicyMode is false); use strict',
    );
  }
}

/**
 * The validated lab configuration every task receives as `lab`. `runId` is unique per provisioning
 * run (the execution name): client tokens derive from it so a reset never gets a terminated
 * instance back.
 */
export type LabConfig = z.output<typeof labInputSchema> & { runId: string };

/**
 * The schema of `lab` in a task's input: the validated input plus `runId`. Parsing an already
 * validated config again is a no-op (the defaults are already there), so tasks re-validate cheaply.
 */
export const labConfigSchema = labInputSchema.extend({ runId: z.string().min(1).max(80) });

/**
 * A Step Functions execution name, which is what `runId` is: 1..80 characters, no
 * whitespace, brackets, wildcards, the listed special characters or control characters. Checked at
 * the edge (validate-lab-input); it ends up in client tokens and tags.
 */
export const runIdSchema = z
  .string()
  .min(1)
  .max(80)
  .regex(
    // eslint-disable-next-line no-control-regex
    /^[^\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]+$/,
    'must be a Step Functions execution name: no whitespace, brackets, wildcards, control characters or any of " # % \\ ^ | ~ ` $ & , ; : /',
  );

/**
 * The input of a task that needs nothing of the lab (an account-wide resource): the state machine
 * still passes the lab id and run, so the task's progress is recorded on the lab
 * (shared/registry-progress.ts). Both optional: the task works without them.
 */
export const labReferenceSchema = z
  .object({ labId: labIdSchema.optional(), runId: runIdSchema.optional() })
  .strict();
