import { TerminateSessionCommand, paginateDescribeSessions, type Session } from '@aws-sdk/client-ssm';
import * as z from 'zod';
import type { LabClients } from '../shared/clients.js';
import { labIdSchema, labNames } from '../shared/names.js';

export const inputSchema = z.object({ labId: labIdSchema });
export type Input = z.output<typeof inputSchema>;

export interface Output {
  /** The sessions this run ended (empty when none was active: a second run). */
  terminated: string[];
}

/**
 * True when `session` belongs to the IAM user `userName`. Owner is the user's ARN (its exact
 * format is unconfirmed), and an IAM user's session id is `<user name>-<suffix>`
 *. Both are compared exactly: a prefix match would also take the sessions of
 * `MyWorkshopUser-demo-2` for lab `demo`.
 */
export function isSessionOf(session: Pick<Session, 'Owner' | 'SessionId'>, userName: string): boolean {
  if (session.Owner?.endsWith(`:user/${userName}`)) return true;
  const id = session.SessionId ?? '';
  return id.slice(0, id.lastIndexOf('-')) === userName;
}

/**
 * Teardown step 1: end the lab user's active sessions, so no shell outlives the lab. Found from
 * the lab id alone (the user's name), so it works after a crash or from another execution. A
 * session that ended meanwhile is ended again harmlessly: TerminateSession is idempotent.
 */
export async function terminateSessions({ labId }: Input, { ssm }: Pick<LabClients, 'ssm'>): Promise<Output> {
  const userName = labNames(labId).user;
  const terminated: string[] = [];
  // One listing of the Region's active sessions, filtered here: the Owner filter would need the
  // exact, unconfirmed Owner format, and a miss would leave a shell open.
  for await (const page of paginateDescribeSessions({ client: ssm, pageSize: 200 }, { State: 'Active' })) {
    for (const session of page.Sessions ?? []) {
      if (session.SessionId && isSessionOf(session, userName)) terminated.push(session.SessionId);
    }
  }
  for (const SessionId of terminated) await ssm.send(new TerminateSessionCommand({ SessionId }));
  return { terminated };
}
