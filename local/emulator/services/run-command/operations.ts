import { randomUUID } from 'node:crypto';
import type { OperationHandler } from '../../context.js';
import { AwsError } from '../../protocol.js';
import { decodeToken, pageAt, rangeError } from '../paging.js';
import {
  DOCUMENT,
  MAX_STDERR,
  MAX_STDOUT,
  PLUGIN,
  commands,
  readParameters,
  resolveInstances,
  type CommandRecord,
} from './commands.js';
import {
  commandsFor,
  describeCommand,
  describeInvocation,
  filterMatch,
  maxResultsOf,
  readFilters,
} from './describe.js';
import { commandStatus, hang, start, visible } from './invocations.js';

/** The Run Command operations: SendCommand, GetCommandInvocation, ListCommands, ListCommandInvocations. */

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
    const { page, nextToken } = pageAt(all, 'ListCommands', offset, maxResults);
    return {
      Commands: page.map(describeCommand),
      ...(nextToken ? { NextToken: nextToken } : {}),
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
    const { page, nextToken } = pageAt(rows, 'ListCommandInvocations', offset, maxResults);
    return {
      CommandInvocations: page,
      ...(nextToken ? { NextToken: nextToken } : {}),
    };
  },
};
