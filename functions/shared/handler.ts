import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Context } from 'aws-lambda';
import type * as z from 'zod';
import { withDeadline } from './retries.js';
import { NotReadyYet, retryableThrottling } from './errors.js';
import { parseInput } from './input.js';
import { logger } from './logger.js';
import { registryProgress } from './registry-progress.js';

export type LabHandler<O> = (event: unknown, context: Context) => Promise<O>;

/**
 * The thin wrapper every task's handler.ts uses: Lambda context in the logs, the lab id as a
 * log key, input validated against the task's schema (InvalidLabInput names the field), then the
 * plain task function. Errors propagate unchanged so Step Functions sees their `name`, except
 * throttling the SDK's retries did not absorb, which becomes Throttled (retried by the workflow).
 * With a registry configured (REGISTRY_TABLE), the step's start, end and failure are recorded on the
 * lab's item and published as progress events; `progress: false` opts a bookkeeping task out.
 * `untilReady: true` makes a poll task's "not yet" (`{ ready: false, ... }`, recorded as waiting)
 * a NotReadyYet naming what it is waiting for: the workflow's Retry on that task is the poll, one
 * billed transition per check instead of a Choice, a back-off Pass and a Wait.
 * The SDK's retries stop short of the invocation's deadline (`withDeadline`), so throttling ends as
 * Throttled rather than as a Lambda timeout, which the workflow does not retry.
 */
export function labHandler<S extends z.ZodType, O>(
  schema: S,
  task: (input: z.output<S>) => Promise<O>,
  options: { progress?: boolean; untilReady?: boolean } = {},
): LabHandler<O> {
  const wrapped = middy<unknown, O, Error, Context>().use(injectLambdaContext(logger, { resetKeys: true }));
  if (options.progress !== false) wrapped.use(registryProgress());
  const middyfied = wrapped.handler(async (event) => {
    const labId = (event as { labId?: unknown } | null)?.labId;
    if (typeof labId === 'string') logger.appendKeys({ labId });
    const input = parseInput(schema, event);
    try {
      return await task(input);
    } catch (err) {
      throw retryableThrottling(err);
    }
  });
  // Lambda and the local runner always give the remaining time; a bare test context may not.
  const handler: LabHandler<O> = (event, context) =>
    typeof context?.getRemainingTimeInMillis === 'function'
      ? withDeadline(Date.now() + context.getRemainingTimeInMillis(), () => middyfied(event, context))
      : middyfied(event, context);
  if (!options.untilReady) return handler;
  return async (event, context) => {
    const output = await handler(event, context);
    const { ready, ...waitingFor } = (output ?? {}) as { ready?: unknown };
    if (ready === false) throw new NotReadyYet(`not ready yet: ${JSON.stringify(waitingFor)}`);
    return output;
  };
}
