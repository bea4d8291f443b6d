/**
 * Typed errors. Each class sets a stable `name`, which is what Step Functions matches in
 * Retry/Catch `ErrorEquals` when a Lambda throws it, so names are part of the public contract:
 * never rename one without changing the state machines. The names are string literals, not the
 * class's own name: the deployed bundles are minified, which renames classes (`NotReadyYet` became
 * `i0`), and Lambda reports the thrown error's `name` as its type.
 */
export class LabError extends Error {
  override name = 'LabError';
}

/** A resource is not in the state we wait for yet (instance pending, node not Online, tier pending). */
export class NotReadyYet extends LabError {
  override name = 'NotReadyYet';
}

/** IAM has created an entity but another service cannot see it yet (profile at RunInstances, role at CreateActivation). */
export class IamNotPropagatedYet extends LabError {
  override name = 'IamNotPropagatedYet';
}

/** Bad input. `field` names the offending field so the caller knows what to fix. */
export class InvalidLabInput extends LabError {
  override name = 'InvalidLabInput';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** A deployment setting (environment variable) is missing or malformed; fails at cold start. */
export class ConfigurationError extends LabError {
  override name = 'ConfigurationError';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(message);
  }
}

/** What AWS holds differs from what the lab requires after we wrote it (trust policy, attachments, preferences). */
export class LabStateMismatch extends LabError {
  override name = 'LabStateMismatch';
}

/** A step cannot succeed by retrying: a failed registration script, an expired activation, a terminated host. */
export class LabStepFailed extends LabError {
  override name = 'LabStepFailed';
}

/**
 * Throttling the SDK's adaptive retries could not absorb: many labs in one account contend for the
 * same account-wide buckets (the benchmark's sweep meets it). The workflows retry it on its own
 * retrier, sooner and more often than NotReadyYet (back-off capped at 15 s, not 60 s): a bucket
 * refills at its rate whoever is waiting, and a lab asleep in a long back-off while it refills is
 * time lost at the end of a class.
 */
export class Throttled extends LabError {
  override name = 'Throttled';
}

/** An optimistic write to the lab registry lost to a concurrent one more often than the retries allow. */
export class RegistryConflict extends LabError {
  override name = 'RegistryConflict';
}

/** A lab asks for a shared setting different from the one the current holders share. */
export class SharedSettingConflict extends LabError {
  override name = 'SharedSettingConflict';
  constructor(
    readonly key: string,
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** Error names the state machines retry with backoff and jitter (Throttled on a retrier of its own). */
export const RETRYABLE_ERRORS = ['NotReadyYet', 'IamNotPropagatedYet', 'Throttled'] as const;

/** The throttling errors of the services the tasks call (docs/aws-behaviours.md#throttling-errors): EC2, IAM, the JSON APIs. */
export const THROTTLING_ERRORS = [
  'RequestLimitExceeded',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestThrottled',
  'RequestThrottledException',
] as const;

/** A throttling error the SDK's retries did not absorb becomes Throttled; any other error is returned as is. */
export function retryableThrottling(err: unknown): unknown {
  if (!isErrorNamed(err, ...THROTTLING_ERRORS)) return err;
  return new Throttled(
    `throttled beyond the SDK's retries: ${(err as Error).name}: ${(err as Error).message}`,
    {
      cause: err,
    },
  );
}

/**
 * True when `err` is an AWS SDK error (or one of ours) whose name is one of `names`.
 * SDK v3 sets `name` to the modelled shape for IAM/SSM/Logs and to the raw code string for EC2
 * (for example `InvalidKeyPair.Duplicate`), so matching on `name` covers every service we call.
 */
export function isErrorNamed(err: unknown, ...names: string[]): boolean {
  return err instanceof Error && names.includes(err.name);
}

/** Runs `call`; an error named in `names` resolves to `undefined` instead (for "not found means done"). */
export async function ignoreErrors<T>(call: () => Promise<T>, ...names: string[]): Promise<T | undefined> {
  try {
    return await call();
  } catch (err) {
    if (isErrorNamed(err, ...names)) return undefined;
    throw err;
  }
}
