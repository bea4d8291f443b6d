import type { ControlHandler } from '../../context.js';
import { AwsError } from '../../protocol.js';
import { findNode } from '../managed-nodes/nodes.js';
import { refresh, runInput } from './lifecycle.js';
import { sessionsOf } from './records.js';

/** The data channel stand-in: the control endpoint that types commands into a session's shell. */

/**
 * POST /__emulator/session-input {sessionId, command}: types `command` into the session's shell
 * and returns its output, as the session-manager-plugin's WebSocket would carry it.
 */
const sessionInput: ControlHandler = async (body, ctx) => {
  const { sessionId, command } = (body ?? {}) as { sessionId?: string; command?: string };
  if (!sessionId || typeof command !== 'string')
    throw new AwsError('ValidationException', 'session-input needs {sessionId, command}.', 400);
  const session = sessionsOf(ctx).get(sessionId);
  if (!session) throw new AwsError('DoesNotExistException', `Session ${sessionId} does not exist.`, 404);
  await refresh(ctx, session);
  if (session.status !== 'Connected') {
    throw new AwsError(
      'SessionNotConnected',
      `Session ${sessionId} is ${session.status}${session.details ? `: ${session.details}` : ''}.`,
      409,
    );
  }
  if (session.kind !== 'shell')
    throw new AwsError(
      'SessionNotInteractive',
      `Session ${sessionId} (${session.documentName}) has no shell.`,
      409,
    );
  const node = await findNode(ctx, session.region, session.target);
  if (!node || node.pingStatus !== 'Online')
    throw new AwsError('TargetNotConnected', `${session.target} is not connected.`, 409);
  const result = await runInput(ctx, session, command);
  return { sessionId, exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
};

export const sessionControls: Record<string, ControlHandler> = {
  'session-input': sessionInput,
};
