import { randomUUID } from 'node:crypto';
import type { EmulatorContext, OperationHandler } from '../context.js';
import { AwsError, type AwsCall } from '../protocol.js';
import { execOnHost } from './host-exec.js';
import { decodeToken, encodeToken, findNode, listNodes, rangeError, type NodeInfo } from './managed-nodes.js';

/**
 * Run Command for AWS-RunShellScript, executed for real on the simulated host (see host-exec.ts).
 * Like AWS, an invocation is invisible for a moment after SendCommand (InvocationDoesNotExist), then
 * InProgress while the script runs, then Success, Failed or TimedOut with its output.
 */

const DOCUMENT = 'AWS-RunShellScript';
const PLUGIN = 'aws:runShellScript';
const MAX_STDOUT = 24_000;
const MAX_STDERR = 8_000;
/** ListCommandInvocations' plugin Output holds only the first 2,500 characters. */
const MAX_PLUGIN_OUTPUT = 2_500;
const COMMAND_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type Status = 'InProgress' | 'Success' | 'Failed' | 'TimedOut';

interface Invocation {
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

interface CommandRecord {
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

const commands = (ctx: EmulatorContext) => ctx.slice('run-command', () => new Map<string, CommandRecord>());

const invalidParameters = (message: string) => new AwsError('InvalidParameters', message);

function readParameters(input: unknown): { parameters: Record<string, string[]>; executionTimeout: number } {
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

async function resolveInstances(call: AwsCall, ctx: EmulatorContext): Promise<NodeInfo[]> {
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

/** An invocation that never finishes (an injected fault): TimedOut after `hangMs` real ms. */
function hang(command: CommandRecord, node: NodeInfo, hangMs: number): Invocation {
  const invocation: Invocation = {
    instanceId: node.nodeId,
    instanceName: node.name ?? '',
    status: 'InProgress',
    statusDetails: 'InProgress',
    responseCode: -1,
    startedMs: Date.now(),
    stdout: '',
    stderr: '',
  };
  setTimeout(() => {
    Object.assign(invocation, {
      status: 'TimedOut',
      statusDetails: 'ExecutionTimedOut',
      endedMs: Date.now(),
    });
  }, hangMs).unref();
  return invocation;
}

function start(ctx: EmulatorContext, command: CommandRecord, node: NodeInfo): Invocation {
  const invocation: Invocation = {
    instanceId: node.nodeId,
    instanceName: node.name ?? '',
    status: 'InProgress',
    statusDetails: 'InProgress',
    responseCode: -1,
    startedMs: Date.now(),
    stdout: '',
    stderr: '',
  };
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

const visible = (command: CommandRecord) => Date.now() >= command.visibleAtMs;

function commandStatus(command: CommandRecord): { status: string; details: string } {
  if (!visible(command)) return { status: 'Pending', details: 'Pending' };
  const statuses = command.invocations.map((i) => i.status);
  if (statuses.includes('InProgress')) return { status: 'InProgress', details: 'InProgress' };
  if (statuses.every((s) => s === 'Success')) return { status: 'Success', details: 'Success' };
  if (statuses.includes('TimedOut')) return { status: 'TimedOut', details: 'TimedOut' };
  return { status: 'Failed', details: 'Failed' };
}

function describeCommand(command: CommandRecord) {
  const { status, details } = commandStatus(command);
  const done = command.invocations.filter((i) => i.status !== 'InProgress');
  return {
    CommandId: command.id,
    DocumentName: DOCUMENT,
    DocumentVersion: '$DEFAULT',
    ...(command.comment !== undefined ? { Comment: command.comment } : {}),
    ExpiresAfter:
      (command.requestedMs + (command.timeoutSeconds + command.executionTimeoutSeconds) * 1000) / 1000,
    Parameters: command.parameters,
    InstanceIds: command.instanceIds,
    Targets: command.targets,
    RequestedDateTime: command.requestedMs / 1000,
    Status: status,
    StatusDetails: details,
    OutputS3Region: command.region,
    ...(command.outputS3BucketName ? { OutputS3BucketName: command.outputS3BucketName } : {}),
    ...(command.outputS3KeyPrefix ? { OutputS3KeyPrefix: command.outputS3KeyPrefix } : {}),
    MaxConcurrency: '50',
    MaxErrors: '0',
    TargetCount: command.invocations.length,
    CompletedCount: visible(command) ? done.length : 0,
    ErrorCount: visible(command) ? done.filter((i) => i.status !== 'Success').length : 0,
    DeliveryTimedOutCount: 0,
    ...(command.serviceRole ? { ServiceRole: command.serviceRole } : {}),
    ...(command.notificationConfig ? { NotificationConfig: command.notificationConfig } : {}),
    CloudWatchOutputConfig: command.cloudWatchOutputConfig ?? {
      CloudWatchLogGroupName: '',
      CloudWatchOutputEnabled: false,
    },
    TimeoutSeconds: command.timeoutSeconds,
    TriggeredAlarms: [],
  };
}

function pluginOutput(invocation: Invocation): string {
  const err = invocation.stderr ? `\n----------ERROR-------\n${invocation.stderr}` : '';
  return `${invocation.stdout}${err}`.slice(0, MAX_PLUGIN_OUTPUT);
}

function describeInvocation(command: CommandRecord, invocation: Invocation, details: boolean) {
  return {
    CommandId: command.id,
    InstanceId: invocation.instanceId,
    InstanceName: invocation.instanceName,
    ...(command.comment !== undefined ? { Comment: command.comment } : {}),
    DocumentName: DOCUMENT,
    DocumentVersion: '$DEFAULT',
    RequestedDateTime: command.requestedMs / 1000,
    Status: invocation.status,
    StatusDetails: invocation.statusDetails,
    TraceOutput: '',
    StandardOutputUrl: '',
    StandardErrorUrl: '',
    CommandPlugins: details
      ? [
          {
            Name: PLUGIN,
            Status: invocation.status,
            StatusDetails: invocation.statusDetails,
            ResponseCode: invocation.responseCode,
            ResponseStartDateTime: invocation.startedMs / 1000,
            ...(invocation.endedMs !== undefined
              ? { ResponseFinishDateTime: invocation.endedMs / 1000 }
              : {}),
            Output: invocation.endedMs !== undefined ? pluginOutput(invocation) : '',
            StandardOutputUrl: '',
            StandardErrorUrl: '',
            OutputS3Region: command.region,
          },
        ]
      : [],
    ...(command.serviceRole ? { ServiceRole: command.serviceRole } : {}),
    CloudWatchOutputConfig: command.cloudWatchOutputConfig ?? {
      CloudWatchLogGroupName: '',
      CloudWatchOutputEnabled: false,
    },
  };
}

interface CommandFilter {
  key: string;
  value: string;
}

const FILTER_KEYS = ['InvokedAfter', 'InvokedBefore', 'Status', 'ExecutionStage', 'DocumentName'];

function readFilters(input: unknown): CommandFilter[] {
  const filters = (input ?? []) as { key?: string; value?: string }[];
  if (filters.length > 5) throw rangeError('filters', filters.length, 1, 5);
  return filters.map((f) => {
    const key = String(f.key ?? '');
    if (!FILTER_KEYS.includes(key))
      throw new AwsError('InvalidFilterKey', `The filter key ${key} is not valid.`);
    const value = String(f.value ?? '');
    if ((key === 'InvokedAfter' || key === 'InvokedBefore') && !Number.isFinite(Date.parse(value))) {
      throw new AwsError('InvalidFilterValue', `The filter value ${value} is not a valid date.`);
    }
    return { key, value };
  });
}

function filterMatch(command: CommandRecord, status: string, filter: CommandFilter): boolean {
  switch (filter.key) {
    case 'InvokedAfter':
      return command.requestedMs >= Date.parse(filter.value);
    case 'InvokedBefore':
      return command.requestedMs <= Date.parse(filter.value);
    case 'Status':
      return status === filter.value;
    case 'ExecutionStage':
      return filter.value === 'Executing'
        ? ['Pending', 'InProgress'].includes(status)
        : filter.value === 'Complete'
          ? !['Pending', 'InProgress'].includes(status)
          : false;
    default:
      return filter.value === DOCUMENT;
  }
}

function maxResultsOf(call: AwsCall): number {
  const max = call.input.MaxResults === undefined ? 50 : Number(call.input.MaxResults);
  if (max < 1 || max > 50) throw rangeError('maxResults', max, 1, 50);
  return max;
}

function commandsFor(call: AwsCall, ctx: EmulatorContext): CommandRecord[] {
  const store = commands(ctx);
  if (call.input.CommandId !== undefined) {
    const id = String(call.input.CommandId);
    const command = COMMAND_ID.test(id) ? store.get(id) : undefined;
    if (!command || command.region !== call.region) {
      throw new AwsError('InvalidCommandId', `Command ID ${id} is not valid.`);
    }
    return [command];
  }
  return [...store.values()]
    .filter((c) => c.region === call.region)
    .sort((a, b) => b.requestedMs - a.requestedMs);
}

export const runCommand: Record<string, OperationHandler> = {
  async SendCommand(call, ctx) {
    const input = call.input as Record<string, unknown>;
    const documentName = String(input.DocumentName ?? '');
    const bareName = documentName.slice(documentName.lastIndexOf('/') + 1);
    if (bareName !== DOCUMENT) {
      throw new AwsError(
        'InvalidDocument',
        `Document ${documentName} does not exist in your account (the emulator runs ${DOCUMENT} only).`,
      );
    }
    const comment = input.Comment === undefined ? undefined : String(input.Comment);
    if (comment !== undefined && comment.length > 100) {
      throw new AwsError('ValidationException', `Comment must be at most 100 characters.`);
    }
    const timeoutSeconds = input.TimeoutSeconds === undefined ? 3600 : Number(input.TimeoutSeconds);
    if (timeoutSeconds < 30 || timeoutSeconds > 2_592_000) {
      throw rangeError('timeoutSeconds', timeoutSeconds, 30, 2_592_000);
    }
    const { parameters, executionTimeout } = readParameters(input.Parameters);
    const nodes = await resolveInstances(call, ctx);
    const now = Date.now();
    const command: CommandRecord = {
      id: randomUUID(),
      region: call.region,
      comment,
      parameters,
      instanceIds: (input.InstanceIds ?? []) as string[],
      targets: (input.Targets ?? []) as { Key: string; Values: string[] }[],
      requestedMs: now,
      visibleAtMs: now + ctx.clock.realMs(ctx.clock.profile.invocationVisibleSeconds),
      timeoutSeconds,
      executionTimeoutSeconds: executionTimeout,
      cloudWatchOutputConfig: input.CloudWatchOutputConfig,
      serviceRole: input.ServiceRoleArn as string | undefined,
      notificationConfig: input.NotificationConfig,
      outputS3BucketName: input.OutputS3BucketName as string | undefined,
      outputS3KeyPrefix: input.OutputS3KeyPrefix as string | undefined,
      invocations: [],
    };
    const hangMs = ctx.faults?.commandHangMs(call, executionTimeout);
    command.invocations = nodes.map((node) =>
      hangMs === undefined ? start(ctx, command, node) : hang(command, node, hangMs),
    );
    commands(ctx).set(command.id, command);
    return { Command: describeCommand(command) };
  },

  async GetCommandInvocation(call, ctx) {
    const id = String(call.input.CommandId ?? '');
    const instanceId = String(call.input.InstanceId ?? '');
    const plugin = call.input.PluginName === undefined ? undefined : String(call.input.PluginName);
    const command = commands(ctx).get(id);
    const invocation = command?.invocations.find((i) => i.instanceId === instanceId);
    if (!command || command.region !== call.region || !invocation || !visible(command)) {
      throw new AwsError('InvocationDoesNotExist', 'An error occurred (InvocationDoesNotExist)');
    }
    if (plugin !== undefined && plugin !== PLUGIN) {
      throw new AwsError('InvalidPluginName', `The plugin name ${plugin} is not valid.`);
    }
    const ended = invocation.endedMs !== undefined;
    const elapsed = ((invocation.endedMs ?? Date.now()) - invocation.startedMs) / 1000;
    return {
      CommandId: command.id,
      InstanceId: instanceId,
      ...(command.comment !== undefined ? { Comment: command.comment } : {}),
      DocumentName: DOCUMENT,
      DocumentVersion: '$DEFAULT',
      PluginName: PLUGIN,
      ResponseCode: invocation.responseCode,
      ExecutionStartDateTime: new Date(invocation.startedMs).toISOString(),
      ExecutionElapsedTime: `PT${elapsed.toFixed(3)}S`,
      ...(ended ? { ExecutionEndDateTime: new Date(invocation.endedMs!).toISOString() } : {}),
      Status: invocation.status,
      StatusDetails: invocation.statusDetails,
      // Both are empty until the command finishes, then hold their first 24,000 and 8,000 characters.
      StandardOutputContent: ended ? invocation.stdout.slice(0, MAX_STDOUT) : '',
      StandardOutputUrl: '',
      StandardErrorContent: ended ? invocation.stderr.slice(0, MAX_STDERR) : '',
      StandardErrorUrl: '',
      CloudWatchOutputConfig: command.cloudWatchOutputConfig ?? {
        CloudWatchLogGroupName: '',
        CloudWatchOutputEnabled: false,
      },
    };
  },

  async ListCommands(call, ctx) {
    const filters = readFilters(call.input.Filters);
    const maxResults = maxResultsOf(call);
    const offset = decodeToken('ListCommands', call.input.NextToken);
    const instanceId = call.input.InstanceId === undefined ? undefined : String(call.input.InstanceId);
    const all = commandsFor(call, ctx)
      .filter((c) => instanceId === undefined || c.invocations.some((i) => i.instanceId === instanceId))
      .filter((c) => filters.every((f) => filterMatch(c, commandStatus(c).status, f)));
    const page = all.slice(offset, offset + maxResults);
    const more = offset + maxResults < all.length;
    return {
      Commands: page.map(describeCommand),
      ...(more ? { NextToken: encodeToken('ListCommands', offset + maxResults) } : {}),
    };
  },

  async ListCommandInvocations(call, ctx) {
    const filters = readFilters(call.input.Filters);
    const maxResults = maxResultsOf(call);
    const offset = decodeToken('ListCommandInvocations', call.input.NextToken);
    const instanceId = call.input.InstanceId === undefined ? undefined : String(call.input.InstanceId);
    const details = call.input.Details === true;
    const rows = commandsFor(call, ctx)
      .filter(visible)
      .flatMap((command) =>
        command.invocations
          .filter((i) => instanceId === undefined || i.instanceId === instanceId)
          .filter((i) => filters.every((f) => filterMatch(command, i.status, f)))
          .map((i) => describeInvocation(command, i, details)),
      );
    const page = rows.slice(offset, offset + maxResults);
    const more = offset + maxResults < rows.length;
    return {
      CommandInvocations: page,
      ...(more ? { NextToken: encodeToken('ListCommandInvocations', offset + maxResults) } : {}),
    };
  },
};
