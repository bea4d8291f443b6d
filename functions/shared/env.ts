import type * as z from 'zod';
import { ConfigurationError } from './errors.js';

/**
 * Validates a function's environment against its schema at cold start, so a missing or malformed
 * deployment setting fails loudly before any work, naming the variable.
 */
export function readEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.output<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const variable = issue?.path.map(String).join('.') || 'environment';
  throw new ConfigurationError(variable, `${variable}: ${issue?.message ?? 'invalid'}`);
}
