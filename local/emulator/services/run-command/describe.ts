import type { EmulatorContext } from '../../context.js';
import { AwsError, type AwsCall } from '../../protocol.js';
import { rangeError } from '../paging.js';
import {
  COMMAND_ID,
  DOCUMENT,
  MAX_PLUGIN_OUTPUT,
  PLUGIN,
  commands,
  type CommandRecord,
  type Invocation,
} from './commands.js';
import { commandStatus, visible } from './invocations.js';

/** Commands and invocations as the List and Send operations show them, and the List filters. */

export function describeCommand(command: CommandRecord) {
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

export function describeInvocation(command: CommandRecord, invocation: Invocation, details: boolean) {
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

export function readFilters(input: unknown): CommandFilter[] {
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

export function filterMatch(command: CommandRecord, status: string, filter: CommandFilter): boolean {
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

export function maxResultsOf(call: AwsCall): number {
  const max = call.input.MaxResults === undefined ? 50 : Number(call.input.MaxResults);
  if (max < 1 || max > 50) throw rangeError('maxResults', max, 1, 50);
  return max;
}

export function commandsFor(call: AwsCall, ctx: EmulatorContext): CommandRecord[] {
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
