import type * as z from 'zod';
import { InvalidLabInput } from './errors.js';

/** The dotted path of the field a zod issue is about (`hosts.0.role`); unknown keys name themselves. */
function fieldOf(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') path.push(issue.keys.join(','));
  return path.length > 0 ? path.join('.') : 'input';
}

/**
 * Parses `input` with `schema`; on failure throws InvalidLabInput naming the first offending
 * field, so the caller sees exactly what to fix and nothing has been created yet.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (!issue) throw new InvalidLabInput('input', 'invalid');
  throw new InvalidLabInput(fieldOf(issue), issue.message);
}
