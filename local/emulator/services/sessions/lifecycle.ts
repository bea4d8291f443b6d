import type { EmulatorContext } from '../../context.js';
import { runOnHost } from '../managed-nodes/fleet.js';
import type { SessionRecord } from './records.js';
import { writeTranscript } from './transcript.js';

/**
 * A session's life after it starts: commands run one after another as on one terminal, idle and
 * maximum-duration timeouts, and the end (Terminating while the agent uploads its log, then
 * Terminated).
 */

/** Model seconds a terminated session stays Terminating while its log is uploaded (1-3 min in AWS). */
export const TERMINATING_SECONDS = 30;
/** Real milliseconds one session command may run before it is killed. */
const INPUT_TIMEOUT_MS = 60_000;

export function enqueue<T>(session: SessionRecord, work: () => Promise<T>): Promise<T> {
  const result = session.queue.then(work, work);
  session.queue = result.catch(() => undefined);
  return result;
}

/** Ends a connected session: Terminating while the agent uploads its log, Terminated afterwards. */
export function terminate(ctx: EmulatorContext, session: SessionRecord, details?: string): void {
  if (session.status !== 'Connected') return;
  session.status = 'Terminating';
  session.endMs = Date.now();
  if (details) session.details = details;
  session.upload = enqueue(session, () => writeTranscript(session))
    .catch((err: unknown) => {
      // The upload is the agent's business; a failure shows in the session details, not in an API error.
      session.details = `Session log upload failed: ${(err as Error).message}`;
    })
    .finally(() => session.logs?.destroy());
}

/**
 * Brings a session up to date: idle and maximum-duration timeouts end it (AWS terminates such
 * sessions itself), and a Terminating session becomes Terminated once its upload is done and the
 * terminating time has passed.
 */
export async function refresh(ctx: EmulatorContext, session: SessionRecord): Promise<void> {
  if (session.status === 'Connected') {
    const { prefs } = session;
    if (prefs.maxMinutes && ctx.clock.modelSecondsSince(session.startMs) >= prefs.maxMinutes * 60) {
      terminate(ctx, session, `Session reached its maximum duration of ${prefs.maxMinutes} minutes.`);
    } else if (ctx.clock.modelSecondsSince(session.lastActivityMs) >= prefs.idleMinutes * 60) {
      terminate(ctx, session, `Session idle for ${prefs.idleMinutes} minutes.`);
    }
  }
  if (session.status === 'Terminating' && ctx.clock.hasElapsed(session.endMs!, TERMINATING_SECONDS)) {
    await session.upload;
    session.status = 'Terminated';
  }
}

/** Runs one command in the session on its host and keeps it in the transcript. */
export async function runInput(ctx: EmulatorContext, session: SessionRecord, command: string) {
  return enqueue(session, async () => {
    const result = await runOnHost(ctx, session.region, session.hostInstanceId, command, {
      osUser: session.osUser,
      timeoutMs: INPUT_TIMEOUT_MS,
    });
    session.lastActivityMs = Date.now();
    session.transcript.push({ at: new Date(), input: command, output: result.stdout + result.stderr });
    // Streaming sends each record as it happens; otherwise the log is uploaded when the session ends.
    if (session.prefs.streaming) {
      // A refused or failed write is the agent's to log and retry with the next record.
      await writeTranscript(session).catch((err: unknown) => {
        session.agentLog.push(`Failed to stream session data to CloudWatch: ${(err as Error).message}`);
      });
    }
    return result;
  });
}
