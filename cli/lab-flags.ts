/**
 * Flag checks that need the workflows' own zod schemas. Commands import this inside their action,
 * so `--help` and commander's usage errors do not pay for loading zod.
 */
import { InvalidLabInput } from '../functions/shared/errors.js';
import { parseInput } from '../functions/shared/input.js';
import { labInputSchema, type LabInput } from '../functions/shared/lab-config.js';
import { labIdSchema } from '../functions/shared/names.js';
import { FlagError, flagOf } from './options.js';

/** Validates `input` with the workflow's own schema and reports a bad field as its flag. */
export function labInputFromFlags(input: Record<string, unknown>): LabInput {
  try {
    return parseInput(labInputSchema, input);
  } catch (err) {
    if (err instanceof InvalidLabInput)
      throw new FlagError(flagOf(err.field), err.message.slice(err.field.length + 2));
    throw err;
  }
}

export function checkLabId(labId: string): string {
  const parsed = labIdSchema.safeParse(labId);
  if (!parsed.success) throw new FlagError('--lab-id', parsed.error.issues[0]?.message ?? 'invalid');
  return parsed.data;
}

/** The provision input from the flags that were given (the rest take the workflow's defaults). */
export function provisionInput(flags: Record<string, unknown>): LabInput {
  const fields = ['labId', 'policyMode', 'instanceType', 'logGroupName', 'logRetentionDays', 'owner'];
  return labInputFromFlags(
    Object.fromEntries(fields.filter((f) => flags[f] !== undefined).map((f) => [f, flags[f]])),
  );
}
