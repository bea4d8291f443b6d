import type { Context } from 'aws-lambda';

/** A Lambda handler as the runner calls it: the deployed function's `handler` export. */
export type TaskHandler = (event: unknown, context: Context) => Promise<unknown>;
export type HandlerResolver = (folder: string) => Promise<TaskHandler>;
