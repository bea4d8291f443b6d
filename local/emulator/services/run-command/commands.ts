import type { EmulatorContext } from '../../context.js';
import { AwsError, type AwsCall } from '../../protocol.js';
import type { NodeInfo } from '../managed-nodes/fleet.js';
import { findNode, listNodes } from '../managed-nodes/nodes.js';
import { rangeError } from '../paging.js';

/**
 * Run Command for AWS-RunShellScript, executed for real on the simulated host (see host-exec.ts).
 * Like AWS, an invocation is invisible for a moment after SendCommand (InvocationDoesNotExist), then
 * InProgress while the script runs, then Success, Failed or TimedOut with its output.
 *
 * This module: a command's record, its parameters and the nodes it reaches.
 */

export const DOCUMENT = 'AWS-RunShellScript';
export const PLUGIN = 'aws:runShellScript';
export const MAX_STDOUT = 24_000;
export const MAX_STDERR = 8_000;
/** ListCommandInvocations' plugin Output holds only the first 2,500 characters. */
export const MAX_PLUGIN_OUTPUT = 2_500;
export const COMMAND_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type Status = 'InProgress' | 'Success' | 'Failed' | 'TimedOut';

export interface Invocation {
  instanceId: string;
  instanceName: string;
  status: Status;
  statusDetails: string;
  responseCode: number;
  startedMs: number;
  endedMs?: number;
  stdout: string;
  stderr: string;
}

export interface CommandRecord {
  id: string;
  region: string;
  comment?: string;
  parameters: Record<string, string[]>;
  instanceIds: string[];
  targets: { Key: string; Values: string[] }[];
  requestedMs: number;
  /** Real ms after which invocations can be read. */
  visibleAtMs: number;
  timeoutSeconds: number;
  executionTimeoutSeconds: number;
  cloudWatchOutputConfig?: unknown;
  serviceRole?: string;
  notificationConfig?: unknown;
  outputS3BucketName?: string;
  outputS3KeyPrefix?: string;
  invocations: Invocation[];
}

export const commands = (ctx: EmulatorContext) =>
  ctx.slice('run-command', () => new Map<string, CommandRecord>());

const invalidParameters = (message: string) => new AwsError('InvalidParameters', message);

export function readParameters(input: unknown): {
  parameters: Record<string, string[]>;
  executionTimeout: number;
} {
  const given = (input ?? {}) as Record<string, unknown>;
  const parameters: Record<string, string[]> = {};
  for (const [key, value] of Object.entries(given)) {
    if (!['commands', 'workingDirectory', 'executionTimeout'].includes(key)) {
      throw invalidParameters(`Parameter "${key}" is not defined in document ${DOCUMENT}.`);
    }
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
      throw invalidParameters(`Parameter "${key}" must be a list of strings.`);
    }
    parameters[key] = value as string[];
  }
  if (!parameters.commands?.length) throw invalidParameters('Parameter "commands" is required.');
  const timeoutText = parameters.executionTimeout?.[0] ?? '3600';
  const executionTimeout = Number(timeoutText);
  if (!/^\d+$/.test(timeoutText) || executionTimeout < 1 || executionTimeout > 172_800) {
    throw invalidParameters(`Parameter "executionTimeout" must be a number of seconds from 1 to 172800.`);
  }
  return {
    parameters: { executionTimeout: [timeoutText], workingDirectory: [''], ...parameters },
    executionTimeout,
  };
}

/** Targets by InstanceIds or tag reach the Online nodes they match. */
async function resolveTargets(call: AwsCall, ctx: EmulatorContext): Promise<NodeInfo[]> {
  const targets = (call.input.Targets ?? []) as { Key?: string; Values?: string[] }[];
  if (targets.length > 5) throw rangeError('targets', targets.length, 0, 5);
  const ids = targets.find((t) => t.Key === 'InstanceIds')?.Values;
  const scope = ids ? [{ key: 'InstanceIds', values: ids }] : [];
  const nodes = (await listNodes(ctx, call.region, scope)).filter((n) => n.pingStatus === 'Online');
  return nodes.filter((node) =>
    targets.every((t) => {
      const key = String(t.Key ?? '');
      const values = t.Values ?? [];
      if (key === 'InstanceIds') return values.includes(node.nodeId);
      if (key.startsWith('tag:')) return values.includes(node.tags[key.slice(4)] ?? '\u0000');
      if (key === 'tag-key') return values.some((v) => v in node.tags);
      throw new AwsError('InvalidParameters', `Target key ${key} is not supported.`);
    }),
  );
}

export async function resolveInstances(call: AwsCall, ctx: EmulatorContext): Promise<NodeInfo[]> {
  const ids = (call.input.InstanceIds ?? []) as string[];
  const hasTargets = ((call.input.Targets ?? []) as unknown[]).length > 0;
  if (ids.length && hasTargets) throw invalidParameters('Specify either InstanceIds or Targets, not both.');
  if (hasTargets) return resolveTargets(call, ctx);
  if (ids.length < 1 || ids.length > 50) throw rangeError('instanceIds', ids.length, 1, 50);
  if (new Set(ids).size !== ids.length)
    throw new AwsError('DuplicateInstanceId', 'Instance IDs must be unique.');
  const nodes: NodeInfo[] = [];
  const invalid: string[] = [];
  for (const id of ids) {
    const node = await findNode(ctx, call.region, id);
    if (node?.pingStatus === 'Online') nodes.push(node);
    else invalid.push(id);
  }
  // AWS's wording: the node is unknown, stopped, has no permission or its agent is not connected.
  if (invalid.length) {
    throw new AwsError(
      'InvalidInstanceId',
      `Instances [[${invalid.join(', ')}]] not in a valid state for account ${ctx.accountId}`,
    );
  }
  return nodes;
}
