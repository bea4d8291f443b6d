import { execOnHost } from '../host-exec.js';
import type { EmulatorContext } from '../../context.js';
import type { NodeInfo } from '../managed-nodes/fleet.js';
import type { CommandRecord, Invocation } from './commands.js';

/** Invocations: each runs the command's script for real on its node's host, or hangs (a fault). */

/** An invocation of `node`, InProgress from now. */
function newInvocation(node: NodeInfo): Invocation {
  return {
    instanceId: node.nodeId,
    instanceName: node.name ?? '',
    status: 'InProgress',
    statusDetails: 'InProgress',
    responseCode: -1,
    startedMs: Date.now(),
    stdout: '',
    stderr: '',
  };
}

/** An invocation that never finishes (an injected fault): TimedOut after `hangMs` real ms. */
export function hang(command: CommandRecord, node: NodeInfo, hangMs: number): Invocation {
  const invocation = newInvocation(node);
  setTimeout(() => {
    Object.assign(invocation, {
      status: 'TimedOut',
      statusDetails: 'ExecutionTimedOut',
      endedMs: Date.now(),
    });
  }, hangMs).unref();
  return invocation;
}

export function start(ctx: EmulatorContext, command: CommandRecord, node: NodeInfo): Invocation {
  const invocation = newInvocation(node);
  // The script is real work, not a modelled delay: it takes as long here as on a host, so its
  // timeout is real seconds too (a scaled 3600 s would kill a registration that needs a few seconds
  // of real time at small scales). The profile's cap bounds how long a hung script may block.
  const limit = Math.min(command.executionTimeoutSeconds, ctx.clock.profile.commandTimeoutSeconds);
  execOnHost({
    emulatorUrl: ctx.url,
    region: command.region,
    hostInstanceId: node.hostInstanceId,
    script: command.parameters.commands!.join('\n'),
    osUser: 'root',
    timeoutMs: limit * 1000,
    workingDirectory: command.parameters.workingDirectory?.[0] || undefined,
  })
    .then((result) => {
      invocation.stdout = result.stdout;
      invocation.stderr = result.stderr;
      invocation.responseCode = result.timedOut ? -1 : result.exitCode;
      invocation.status = result.timedOut ? 'TimedOut' : result.exitCode === 0 ? 'Success' : 'Failed';
      invocation.statusDetails = result.timedOut ? 'ExecutionTimedOut' : invocation.status;
    })
    .catch((err: unknown) => {
      invocation.stderr = `failed to run the script: ${(err as Error).message}`;
      invocation.responseCode = 1;
      invocation.status = 'Failed';
      invocation.statusDetails = 'Failed';
    })
    .finally(() => {
      invocation.endedMs = Date.now();
    });
  return invocation;
}

export const visible = (command: CommandRecord) => Date.now() >= command.visibleAtMs;

export function commandStatus(command: CommandRecord): { status: string; details: string } {
  if (!visible(command)) return { status: 'Pending', details: 'Pending' };
  const statuses = command.invocations.map((i) => i.status);
  if (statuses.includes('InProgress')) return { status: 'InProgress', details: 'InProgress' };
  if (statuses.every((s) => s === 'Success')) return { status: 'Success', details: 'Success' };
  if (statuses.includes('TimedOut')) return { status: 'TimedOut', details: 'TimedOut' };
  return { status: 'Failed', details: 'Failed' };
}
