import { z } from 'zod';

/** The fault options a run configures (faults.ts), how they are read from JSON and the environment. */

/** A share from 0 to 1: one for every operation, or per `service`, `service:Operation` or `*`. */
const shareSchema = z.number().min(0).max(1);
const rateSchema = z.union([
  shareSchema,
  z.record(z.string().regex(/^(\*|[a-z0-9-]+(:\w+)?)$/), shareSchema),
]);
export type FaultRate = z.infer<typeof rateSchema>;

/** Which labs a lab-scoped fault hits: the listed lab ids (the resources' lab tag), or every lab. */
const labScope = { labIds: z.array(z.string().min(1)).optional() };

export const faultOptionsSchema = z
  .object({
    /** Seeds every decision; the same seed gives the same faults per operation. */
    seed: z.number().int().default(1),
    /** Requests answered with the service's throttling error (SSM/Logs `ThrottlingException`, IAM `Throttling`, EC2 `RequestLimitExceeded`). */
    throttle: rateSchema.optional(),
    /** Requests answered 500 / 503 (InternalServerError, ServiceUnavailable, ...) before they take effect. */
    serverError: rateSchema.optional(),
    /**
     * Requests that take effect but whose answer is lost to a 500: the SDK retries a request that
     * already happened (AWS does this too), so a create must cope with finding its own result.
     */
    serverErrorAfterEffect: rateSchema.optional(),
    /**
     * Model seconds IAM takes to propagate: RunInstances with an instance profile created (or given
     * its role) less than this ago fails with `InvalidParameterValue` "Invalid IAM Instance Profile
     * name"; CreateActivation with a role created less than this ago fails with `ValidationException`
     * "Not existing role"; CreateLoginProfile / AttachUserPolicy for a user created less than this
     * ago fails with `NoSuchEntity`.
     */
    iamPropagationSeconds: z.number().min(0).optional(),
    /** `amazon-ssm-agent -register` is refused, or succeeds but the node never comes Online. */
    agentRegistration: z
      .object({ fail: z.enum(['refused', 'offline']).default('refused'), ...labScope })
      .strict()
      .optional(),
    /**
     * Run Command invocations on the lab's hosts hang and end `TimedOut` (ExecutionTimedOut) after
     * `afterSeconds` model seconds, by default the command's own execution timeout.
     */
    commandTimeout: z
      .object({ afterSeconds: z.number().positive().optional(), ...labScope })
      .strict()
      .optional(),
    /** The lab's activations expire `afterSeconds` model seconds after CreateActivation, whatever was asked. */
    activationExpiry: z
      .object({ afterSeconds: z.number().positive().default(1), ...labScope })
      .strict()
      .optional(),
  })
  .strict();

export type FaultOptions = z.input<typeof faultOptionsSchema>;
export type FaultConfig = z.output<typeof faultOptionsSchema>;

/** The fault options in `SESSION_LAB_FAULTS` (JSON), if set; a bad value names the variable. */
export function faultOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): FaultOptions | undefined {
  const text = env.SESSION_LAB_FAULTS;
  if (text === undefined || text.trim() === '') return undefined;
  return parseFaultOptions(text, 'SESSION_LAB_FAULTS');
}

/** Parses fault options from JSON text; errors say where the text came from and which field is wrong. */
export function parseFaultOptions(text: string, source: string): FaultOptions {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${source}: not valid JSON`);
  }
  const parsed = faultOptionsSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field =
      issue.path.map(String).join('.') ||
      (issue.code === 'unrecognized_keys' ? issue.keys.join(',') : 'value');
    throw new Error(`${source}: ${field}: ${issue.message}`);
  }
  return value as FaultOptions;
}
