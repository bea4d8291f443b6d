import { randomBytes } from 'node:crypto';
import {
  CloudWatchLogsClient,
  CreateLogStreamCommand,
  DescribeLogGroupsCommand,
  PutLogEventsCommand,
  type InputLogEvent,
} from '@aws-sdk/client-cloudwatch-logs';
import { IAMClient, ListUserTagsCommand } from '@aws-sdk/client-iam';
import { GetDocumentCommand, SSMClient } from '@aws-sdk/client-ssm';
import { authorizeRequests } from '../authorization/evaluate.js';
import { bucketEncryptionCheck } from '../authorization/operations/other.js';
import type { ControlHandler, EmulatorContext, OperationHandler } from '../context.js';
import { AwsError, type AwsCall } from '../protocol.js';
import { callerOf, type Caller } from './caller.js';
import { recordEvent, type TrailResource } from './cloudtrail.js';
import type { ContextValues } from './iam-simulation.js';
import { findNode, nodeSession, runOnHost, type NodeInfo } from './managed-nodes.js';
import { nodeCaller } from './node-credentials.js';
import type { RoleSession } from './role-sessions.js';
import { effectiveActivationTier } from './service-settings.js';

/**
 * Session Manager: StartSession, DescribeSessions, TerminateSession and ResumeSession, authorized
 * by the caller's IAM policies (the same evaluator as the policy simulator), refused with AWS's
 * errors for nodes that are not connected and for hybrid nodes on the standard tier. A session runs
 * commands on its node's simulated host (the `session-input` control endpoint stands in for the
 * WebSocket data channel) and its transcript goes to CloudWatch Logs as the preferences document
 * says, checked the way the agent checks it.
 */

const PREFERENCES_DOCUMENT = 'SSM-SessionManagerRunShell';

/** Model seconds a terminated session stays Terminating while its log is uploaded (1-3 min in AWS). */
export const TERMINATING_SECONDS = 30;

/** AWS's default idle timeout when the preferences set none. */
const DEFAULT_IDLE_MINUTES = 20;

/** Real milliseconds one session command may run before it is killed. */
const INPUT_TIMEOUT_MS = 60_000;

/** The AWS-owned session documents (moto has none of them) and what kind of stream each opens. */
const AWS_SESSION_DOCUMENTS: Record<string, SessionKind> = {
  'AWS-StartSSHSession': 'port',
  'AWS-StartPortForwardingSession': 'port',
  'AWS-StartPortForwardingSessionToRemoteHost': 'port',
  'AWS-StartPortForwardingSessionToSocket': 'port',
  'AWS-StartInteractiveCommand': 'command',
  'AWS-StartNonInteractiveCommand': 'command',
};

/** Standard_Stream: a shell; InteractiveCommands: a command; Port: forwarding (never logged). */
type SessionKind = 'shell' | 'command' | 'port';

type SessionStatus = 'Connected' | 'Terminating' | 'Terminated' | 'Failed';

interface Preferences {
  logGroup?: string;
  encryption: boolean;
  s3Bucket?: string;
  s3Encryption: boolean;
  streaming: boolean;
  runAsEnabled: boolean;
  runAsDefaultUser?: string;
  idleMinutes: number;
  maxMinutes?: number;
  shellProfile?: string;
}

interface TranscriptEntry {
  at: Date;
  input: string;
  output: string;
}

interface SessionRecord {
  id: string;
  region: string;
  target: string;
  hostInstanceId: string;
  documentName: string;
  kind: SessionKind;
  reason?: string;
  caller: Caller;
  osUser: string;
  status: SessionStatus;
  startMs: number;
  endMs?: number;
  lastActivityMs: number;
  details?: string;
  prefs: Preferences;
  /** The log group the agent writes to; unset when logging is off or the agent cannot log. */
  logGroup?: string;
  /** The agent's CloudWatch Logs client, with the node's credentials (set with `logGroup`). */
  logs?: CloudWatchLogsClient;
  /** What the agent wrote to its own log about this session (warnings). */
  agentLog: string[];
  outputUrl?: string;
  transcript: TranscriptEntry[];
  /** Transcript entries already in CloudWatch Logs. */
  written: number;
  streamCreated: boolean;
  /** Inputs and log writes run one after another, as on one terminal. */
  queue: Promise<unknown>;
  /** The end-of-session upload, started when the session terminates. */
  upload?: Promise<void>;
}

const sessionsOf = (ctx: EmulatorContext) => ctx.slice('sessions', () => new Map<string, SessionRecord>());

const EC2_ID = /^i-[0-9a-f]{8,17}$/;
const MANAGED_ID = /^mi-[0-9a-f]{17}$/;

const bool = (value: unknown) => value === true || value === 'true';

function minutes(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : Number.parseInt(String(value ?? ''), 10);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

function preferencesFrom(inputs: Record<string, unknown> | undefined): Preferences {
  const i = inputs ?? {};
  const shellProfile = (i.shellProfile as { linux?: string } | undefined)?.linux;
  return {
    logGroup:
      typeof i.cloudWatchLogGroupName === 'string' && i.cloudWatchLogGroupName
        ? i.cloudWatchLogGroupName
        : undefined,
    encryption: bool(i.cloudWatchEncryptionEnabled),
    s3Bucket: typeof i.s3BucketName === 'string' && i.s3BucketName ? i.s3BucketName : undefined,
    s3Encryption: bool(i.s3EncryptionEnabled),
    streaming: bool(i.cloudWatchStreamingEnabled),
    runAsEnabled: bool(i.runAsEnabled),
    runAsDefaultUser:
      typeof i.runAsDefaultUser === 'string' && i.runAsDefaultUser ? i.runAsDefaultUser : undefined,
    idleMinutes: minutes(i.idleSessionTimeout) ?? DEFAULT_IDLE_MINUTES,
    maxMinutes: minutes(i.maxSessionDuration),
    shellProfile: shellProfile?.trim() ? shellProfile : undefined,
  };
}

/** A Session document's default version as moto stores it (converted to JSON), or undefined. */
async function sessionDocument(
  ctx: EmulatorContext,
  region: string,
  name: string,
): Promise<{ type?: string; content: Record<string, unknown> } | undefined> {
  try {
    const doc = await ctx
      .moto(SSMClient, region)
      .send(new GetDocumentCommand({ Name: name, DocumentFormat: 'JSON' }));
    return { type: doc.DocumentType, content: JSON.parse(doc.Content ?? '{}') as Record<string, unknown> };
  } catch (err) {
    if ((err as Error).name === 'InvalidDocument') return undefined;
    throw err;
  }
}

interface ResolvedDocument {
  name: string;
  arn: string;
  kind: SessionKind;
  prefs: Preferences;
}

/**
 * The session document and the preferences that apply: a custom Session document carries its own
 * inputs; the default and AWS-owned documents use the account's SSM-SessionManagerRunShell.
 */
async function resolveDocument(
  ctx: EmulatorContext,
  region: string,
  given: string | undefined,
): Promise<ResolvedDocument> {
  const name = given || PREFERENCES_DOCUMENT;
  const awsKind = AWS_SESSION_DOCUMENTS[name];
  if (name === PREFERENCES_DOCUMENT || awsKind) {
    const prefsDoc = await sessionDocument(ctx, region, PREFERENCES_DOCUMENT);
    return {
      name,
      arn: awsKind
        ? `arn:aws:ssm:${region}::document/${name}`
        : `arn:aws:ssm:${region}:${ctx.accountId}:document/${name}`,
      kind: awsKind ?? 'shell',
      prefs: preferencesFrom(prefsDoc?.content.inputs as Record<string, unknown> | undefined),
    };
  }
  const doc = await sessionDocument(ctx, region, name);
  if (!doc) throw new AwsError('InvalidDocument', 'The specified document does not exist.', 400);
  if (doc.type !== 'Session')
    throw new AwsError('InvalidDocument', `Document ${name} is not a Session document.`, 400);
  const sessionType = doc.content.sessionType;
  return {
    name,
    arn: `arn:aws:ssm:${region}:${ctx.accountId}:document/${name}`,
    kind: sessionType === 'Port' ? 'port' : sessionType === 'InteractiveCommands' ? 'command' : 'shell',
    prefs: preferencesFrom(doc.content.inputs as Record<string, unknown> | undefined),
  };
}

function targetArn(ctx: EmulatorContext, region: string, target: string): string {
  return MANAGED_ID.test(target)
    ? `arn:aws:ssm:${region}:${ctx.accountId}:managed-instance/${target}`
    : `arn:aws:ec2:${region}:${ctx.accountId}:instance/${target}`;
}

const sessionArn = (ctx: EmulatorContext, region: string, id: string) =>
  `arn:aws:ssm:${region}:${ctx.accountId}:session/${id}`;

/** A node's tags as both condition keys AWS documents for instance and managed-instance resources. */
function tagContext(tags: Record<string, string>): ContextValues {
  const context: ContextValues = {};
  for (const [key, value] of Object.entries(tags)) {
    context[`ssm:resourceTag/${key}`] = value;
    context[`aws:ResourceTag/${key}`] = value;
  }
  return context;
}

/**
 * AWS's AccessDeniedException, worded as AWS words it for identity-policy decisions: the same
 * evaluation as every other call (authorization/evaluate.ts), with the node's tags given here.
 */
async function authorize(
  ctx: EmulatorContext,
  caller: Caller,
  region: string,
  action: string,
  resource: string,
  context: ContextValues,
): Promise<void> {
  await authorizeRequests(ctx, { protocol: 'json', service: 'ssm', region }, caller, [
    { action, resource, context },
  ]);
}

// ---------------------------------------------------------------------------------------------
// Logging, as the agent does it: with the node's own credentials (its instance profile role, DHMC
// role or activation role session, node-credentials.ts), through the emulator's endpoint like any
// caller, so every call is authorized as the node with the full evaluator.

/** A CloudWatch Logs client that signs as the node, against the emulator itself. */
function agentLogsClient(ctx: EmulatorContext, region: string, session: RoleSession): CloudWatchLogsClient {
  return new CloudWatchLogsClient({
    region,
    endpoint: ctx.url,
    credentials: {
      accessKeyId: session.accessKeyId,
      secretAccessKey: session.secretAccessKey,
      sessionToken: session.sessionToken,
      expiration: new Date(session.expiresAtMs),
    },
  });
}

/**
 * The agent's IsLogGroupPresent: DescribeLogGroups by prefix, page by page, for the exact name;
 * any error (AccessDeniedException when the node's role may not list groups) means not found.
 */
async function describeLogGroup(logs: CloudWatchLogsClient, name: string) {
  let nextToken: string | undefined;
  try {
    do {
      const page = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: name, nextToken }));
      const group = page.logGroups?.find((g) => g.logGroupName === name);
      if (group) return group;
      nextToken = page.nextToken;
    } while (nextToken);
  } catch (err) {
    if (err instanceof Error && (err as { $metadata?: unknown }).$metadata) return undefined;
    throw err;
  }
  return undefined;
}

const ENCRYPTION_NOT_SET_UP =
  "We couldn't start the session because encryption is not set up on the selected CloudWatch Logs log group. " +
  'Either encrypt the log group or choose an option to enable logging without encryption.';

const S3_ENCRYPTION_NOT_SET_UP =
  "We couldn't start the session because encryption is not set up on the selected Amazon S3 bucket. " +
  'Either encrypt the bucket or choose an option to enable logging without encryption.';

const GROUP_NOT_VALIDATED =
  'The CloudWatch log group specified in session preferences either does not exist or unable to validate its existence. ' +
  'This might result in no logging of session data to CloudWatch.';

/**
 * The agent's bucket encryption check (GetBucketEncryption with the node's credentials):
 * s3:GetEncryptionConfiguration authorized for the node like any request (with s3:ResourceAccount,
 * which the nodes' grant requires: operations/other.ts), then the bucket's
 * setting read from moto. Undefined when encrypted, else why not.
 */
async function bucketEncryptionProblem(
  ctx: EmulatorContext,
  region: string,
  session: RoleSession | undefined,
  bucket: string,
): Promise<string | undefined> {
  const unable = (why: string) =>
    `Couldn't start the session because we are unable to validate encryption on Amazon S3 bucket. Error: ${why}`;
  if (!session) return unable('NoCredentialProviders: no valid providers in chain');
  const caller = nodeCaller(ctx, session);
  try {
    await authorizeRequests(ctx, { protocol: 'query', service: 's3', region }, caller, [
      bucketEncryptionCheck(bucket, caller.accountId),
    ]);
  } catch (err) {
    if (err instanceof AwsError) return unable(`${err.code}: ${err.message}`);
    throw err;
  }
  const res = await fetch(`${ctx.motoUrl}/${encodeURIComponent(bucket)}?encryption`);
  const text = await res.text();
  if (res.ok) return undefined;
  const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? `HTTP ${res.status}`;
  if (code === 'ServerSideEncryptionConfigurationNotFoundError') return S3_ENCRYPTION_NOT_SET_UP;
  return unable(code);
}

/**
 * What the agent on the node decides about logging when the session starts (its validate step),
 * with the node's credentials: it looks the group up (DescribeLogGroups); a group it cannot find or
 * may not list means no logging, with a warning in its own log; with cloudWatchEncryptionEnabled,
 * a group it cannot see as KMS-encrypted (missing, not listable or unencrypted) fails the session;
 * with a bucket and s3EncryptionEnabled, a bucket it cannot see as encrypted fails it too.
 */
async function loggingPlan(
  ctx: EmulatorContext,
  region: string,
  node: NodeInfo,
  prefs: Preferences,
  kind: SessionKind,
): Promise<{ logGroup?: string; logs?: CloudWatchLogsClient; failure?: string; warnings: string[] }> {
  const warnings: string[] = [];
  if (kind === 'port' || (!prefs.logGroup && !(prefs.s3Bucket && prefs.s3Encryption))) return { warnings };
  const session = await nodeSession(ctx, region, node.nodeId);
  let logGroup: string | undefined;
  let logs: CloudWatchLogsClient | undefined;
  if (prefs.logGroup) {
    logs = session && agentLogsClient(ctx, region, session);
    const group = logs && (await describeLogGroup(logs, prefs.logGroup));
    if (!group) warnings.push(GROUP_NOT_VALIDATED);
    if (prefs.encryption && !group?.kmsKeyId) {
      logs?.destroy();
      return { failure: ENCRYPTION_NOT_SET_UP, warnings };
    }
    if (group) logGroup = prefs.logGroup;
    else logs?.destroy();
  }
  if (prefs.s3Bucket && prefs.s3Encryption) {
    const problem = await bucketEncryptionProblem(ctx, region, session, prefs.s3Bucket);
    if (problem) {
      logs?.destroy();
      return { failure: problem, warnings };
    }
  }
  return { logGroup, logs: logGroup ? logs : undefined, warnings };
}

/** The agent's streamed record time format (Go's "2006-01-02 15:04:05", UTC). */
const agentTime = (date: Date) =>
  date
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, '');

const PROMPT = 'sh-5.2$ ';

function entryLines(entry: TranscriptEntry): string[] {
  const lines = [`${PROMPT}${entry.input}`];
  const output = entry.output.replace(/\n$/, '');
  if (output) lines.push(...output.split('\n'));
  return lines;
}

/** Bytes of one log event's text: CloudWatch allows 256 KB, with room left for JSON framing. */
const MAX_EVENT_BYTES = 200_000;
/** A single line longer than this is cut (4-byte characters keep it under the event limit). */
const MAX_LINE_CHARS = 50_000;

/**
 * Log events for transcript entries: streamed sessions send the agent's JSON records, the others
 * upload the terminal text at the end. An event holds at most 256 KB, so long output is split.
 */
function logEvents(session: SessionRecord, entries: TranscriptEntry[]): InputLogEvent[] {
  const events: InputLogEvent[] = [];
  for (const entry of entries) {
    const chunks: string[][] = [[]];
    let size = 0;
    for (const whole of entryLines(entry)) {
      const line = whole.length > MAX_LINE_CHARS ? whole.slice(0, MAX_LINE_CHARS) : whole;
      const bytes = Buffer.byteLength(line) + 1;
      if (size + bytes > MAX_EVENT_BYTES && chunks[chunks.length - 1]!.length > 0) {
        chunks.push([]);
        size = 0;
      }
      chunks[chunks.length - 1]!.push(line);
      size += bytes;
    }
    for (const chunk of chunks) {
      const message = session.prefs.streaming
        ? JSON.stringify({
            eventVersion: '1.0',
            eventTime: agentTime(entry.at),
            awsRegion: session.region,
            target: { id: session.target },
            userIdentity: { arn: session.caller.arn },
            runAsUser: session.osUser,
            sessionId: session.id,
            sessionData: chunk,
          })
        : chunk.join('\n');
      events.push({ timestamp: entry.at.getTime(), message });
    }
  }
  return events;
}

/** Writes the transcript entries not yet in the log group, to the stream named after the session. */
async function writeTranscript(session: SessionRecord): Promise<void> {
  const { logs } = session;
  if (!session.logGroup || !logs || session.written >= session.transcript.length) return;
  if (!session.streamCreated) {
    try {
      await logs.send(
        new CreateLogStreamCommand({ logGroupName: session.logGroup, logStreamName: session.id }),
      );
    } catch (err) {
      if ((err as Error).name !== 'ResourceAlreadyExistsException') throw err;
    }
    session.streamCreated = true;
  }
  const entries = session.transcript.slice(session.written);
  const events = logEvents(session, entries);
  // PutLogEvents takes at most 10,000 events and 1 MB per call.
  for (let i = 0; i < events.length;) {
    let bytes = 0;
    let j = i;
    // Each event counts its UTF-8 size plus 26 bytes.
    while (
      j < events.length &&
      j - i < 10_000 &&
      bytes + Buffer.byteLength(events[j]!.message!) + 26 < 1_000_000
    ) {
      bytes += Buffer.byteLength(events[j]!.message!) + 26;
      j++;
    }
    await logs.send(
      new PutLogEventsCommand({
        logGroupName: session.logGroup,
        logStreamName: session.id,
        logEvents: events.slice(i, Math.max(j, i + 1)),
      }),
    );
    i = Math.max(j, i + 1);
  }
  session.written += entries.length;
  session.outputUrl = `https://console.aws.amazon.com/cloudwatch/home?region=${session.region}#logEventViewer:group=${encodeURIComponent(session.logGroup)};stream=${session.id}`;
}

function enqueue<T>(session: SessionRecord, work: () => Promise<T>): Promise<T> {
  const result = session.queue.then(work, work);
  session.queue = result.catch(() => undefined);
  return result;
}

/** Ends a connected session: Terminating while the agent uploads its log, Terminated afterwards. */
function terminate(ctx: EmulatorContext, session: SessionRecord, details?: string): void {
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
async function refresh(ctx: EmulatorContext, session: SessionRecord): Promise<void> {
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

// ---------------------------------------------------------------------------------------------
// The operations

function trailResourceFor(ctx: EmulatorContext, region: string, target: string): TrailResource {
  return {
    ResourceType: MANAGED_ID.test(target) ? 'AWS::SSM::ManagedInstance' : 'AWS::EC2::Instance',
    ResourceName: target,
    arn: targetArn(ctx, region, target),
  };
}

const sessionResource = (ctx: EmulatorContext, region: string, id: string): TrailResource => ({
  ResourceType: 'AWS::SSM::Session',
  ResourceName: id,
  arn: sessionArn(ctx, region, id),
});

/** Runs an operation and records it in CloudTrail whether it succeeds or fails, as AWS does. */
async function audited<T extends Record<string, unknown>>(
  ctx: EmulatorContext,
  call: AwsCall,
  caller: Caller,
  details: {
    eventName: string;
    requestParameters: Record<string, unknown>;
    resources: () => TrailResource[];
  },
  run: () => Promise<{ reply: T; responseElements: Record<string, unknown> }>,
): Promise<T> {
  try {
    const { reply, responseElements } = await run();
    recordEvent(ctx, {
      call,
      caller,
      eventSource: 'ssm.amazonaws.com',
      ...details,
      resources: details.resources(),
      responseElements,
    });
    return reply;
  } catch (err) {
    if (err instanceof AwsError)
      recordEvent(ctx, {
        call,
        caller,
        eventSource: 'ssm.amazonaws.com',
        ...details,
        resources: details.resources(),
        error: err,
      });
    throw err;
  }
}

const newToken = () => randomBytes(96).toString('base64');

const streamUrl = (region: string, id: string) =>
  `wss://ssmmessages.${region}.amazonaws.com/v1/data-channel/${id}?role=publish_subscribe`;

/** `<username>-<17 hex>` for IAM users (facts 5.1); `session-<17 hex>` when there is no user name. */
function newSessionId(ctx: EmulatorContext, caller: Caller): string {
  const sessions = sessionsOf(ctx);
  let id: string;
  do
    id = `${caller.userName ?? caller.sessionName ?? 'session'}-${randomBytes(9).toString('hex').slice(0, 17)}`;
  while (sessions.has(id));
  return id;
}

/** The OS user of a session: ssm-user, or with Run As the user's SSMSessionRunAs tag or the default. */
async function sessionUser(
  ctx: EmulatorContext,
  caller: Caller,
  prefs: Preferences,
): Promise<string | undefined> {
  if (!prefs.runAsEnabled) return 'ssm-user';
  if (caller.userName) {
    const { Tags } = await ctx
      .moto(IAMClient, 'us-east-1')
      .send(new ListUserTagsCommand({ UserName: caller.userName }));
    const tagged = Tags?.find((t) => t.Key === 'SSMSessionRunAs')?.Value;
    if (tagged) return tagged;
  }
  return prefs.runAsDefaultUser;
}

async function startSession(call: AwsCall, ctx: EmulatorContext) {
  const caller = await callerOf(ctx, call);
  const region = call.region;
  const input = (call.input ?? {}) as {
    Target?: string;
    DocumentName?: string;
    Reason?: string;
    Parameters?: unknown;
  };
  const target = input.Target ?? '';
  const requestParameters: Record<string, unknown> = { target };
  if (input.DocumentName) requestParameters.documentName = input.DocumentName;
  if (input.Reason) requestParameters.reason = input.Reason;
  if (input.Parameters) requestParameters.parameters = input.Parameters;
  return audited(
    ctx,
    call,
    caller,
    {
      eventName: 'StartSession',
      requestParameters,
      resources: () => [trailResourceFor(ctx, region, target)],
    },
    async () => {
      if (!target)
        throw new AwsError(
          'ValidationException',
          "1 validation error detected: Value null at 'target' failed to satisfy constraint: Member must not be null",
        );
      const node =
        EC2_ID.test(target) || MANAGED_ID.test(target) ? await findNode(ctx, region, target) : undefined;
      // The caller's policies decide first, on the node (with its tags) and on the session document.
      const documentName = input.DocumentName || PREFERENCES_DOCUMENT;
      const documentArn = AWS_SESSION_DOCUMENTS[documentName]
        ? `arn:aws:ssm:${region}::document/${documentName}`
        : `arn:aws:ssm:${region}:${ctx.accountId}:document/${documentName}`;
      await authorize(
        ctx,
        caller,
        region,
        'ssm:StartSession',
        targetArn(ctx, region, target),
        tagContext(node?.tags ?? {}),
      );
      await authorize(ctx, caller, region, 'ssm:StartSession', documentArn, {
        // Omitting the document means the default one, whose access the service then checks.
        ...(input.DocumentName ? {} : { 'ssm:SessionDocumentAccessCheck': 'true' }),
      });
      if (!node || node.pingStatus !== 'Online')
        // HTTP 430 as the service model declares it; the SDK names the error from __type either way.
        throw new AwsError('TargetNotConnected', `${target} is not connected.`, 430);
      if (node.resourceType === 'ManagedInstance' && effectiveActivationTier(ctx, region) !== 'advanced') {
        throw new AwsError(
          'BadRequest',
          'Enable advanced-instances tier to use Session Manager with your on-premises instances',
          400,
        );
      }
      const document = await resolveDocument(ctx, region, input.DocumentName);
      const osUser = await sessionUser(ctx, caller, document.prefs);
      const plan = await loggingPlan(ctx, region, node, document.prefs, document.kind);
      const now = Date.now();
      const session: SessionRecord = {
        id: newSessionId(ctx, caller),
        region,
        target,
        hostInstanceId: node.hostInstanceId,
        documentName: document.name,
        kind: document.kind,
        reason: input.Reason,
        caller,
        osUser: osUser ?? '',
        status: 'Connected',
        startMs: now,
        lastActivityMs: now,
        prefs: document.prefs,
        logGroup: plan.logGroup,
        logs: plan.logs,
        agentLog: plan.warnings,
        transcript: [],
        written: 0,
        streamCreated: false,
        queue: Promise.resolve(),
      };
      // Failures the agent finds on the node: the API call succeeds, the session fails at once.
      const failure =
        plan.failure ??
        (osUser
          ? undefined
          : 'Invalid RunAs username: runAsEnabled is set but no run-as user is configured.');
      if (failure) {
        session.status = 'Failed';
        session.endMs = now;
        session.details = failure;
        session.logs?.destroy();
      }
      sessionsOf(ctx).set(session.id, session);
      if (session.status === 'Connected' && session.kind === 'shell' && document.prefs.shellProfile) {
        await runInput(ctx, session, document.prefs.shellProfile);
      }
      const reply = {
        SessionId: session.id,
        TokenValue: newToken(),
        StreamUrl: streamUrl(region, session.id),
      };
      return {
        reply,
        responseElements: {
          sessionId: reply.SessionId,
          tokenValue: 'Value hidden due to security reasons.',
          streamUrl: reply.StreamUrl,
        },
      };
    },
  );
}

/** Session ids are scoped to their region, as AWS scopes them. */
function sessionIn(ctx: EmulatorContext, region: string, id: string): SessionRecord | undefined {
  const session = sessionsOf(ctx).get(id);
  return session && session.region === region ? session : undefined;
}

/** The AWS-supplied session tags, which policies use to limit callers to their own sessions. */
const sessionTagContext = (session: SessionRecord | undefined, id: string): ContextValues => ({
  'ssm:resourceTag/aws:ssmmessages:session-id': id,
  ...(session ? { 'ssm:resourceTag/aws:ssmmessages:target-id': session.target } : {}),
});

async function terminateSession(call: AwsCall, ctx: EmulatorContext) {
  const caller = await callerOf(ctx, call);
  const region = call.region;
  const id = String(call.input?.SessionId ?? '');
  return audited(
    ctx,
    call,
    caller,
    {
      eventName: 'TerminateSession',
      requestParameters: { sessionId: id },
      resources: () => [sessionResource(ctx, region, id)],
    },
    async () => {
      if (!id)
        throw new AwsError(
          'ValidationException',
          "1 validation error detected: Value null at 'sessionId' failed to satisfy constraint: Member must not be null",
        );
      const session = sessionIn(ctx, region, id);
      await authorize(
        ctx,
        caller,
        region,
        'ssm:TerminateSession',
        sessionArn(ctx, region, id),
        sessionTagContext(session, id),
      );
      // Terminating an ended or unknown session succeeds: the operation is idempotent.
      if (session) {
        await refresh(ctx, session);
        terminate(ctx, session);
      }
      return { reply: { SessionId: id }, responseElements: { sessionId: id } };
    },
  );
}

async function resumeSession(call: AwsCall, ctx: EmulatorContext) {
  const caller = await callerOf(ctx, call);
  const region = call.region;
  const id = String(call.input?.SessionId ?? '');
  return audited(
    ctx,
    call,
    caller,
    {
      eventName: 'ResumeSession',
      requestParameters: { sessionId: id },
      resources: () => [sessionResource(ctx, region, id)],
    },
    async () => {
      const session = sessionIn(ctx, region, id);
      await authorize(
        ctx,
        caller,
        region,
        'ssm:ResumeSession',
        sessionArn(ctx, region, id),
        sessionTagContext(session, id),
      );
      if (session) await refresh(ctx, session);
      if (!session || session.status !== 'Connected')
        throw new AwsError(
          'DoesNotExistException',
          `Session ${id} does not exist or has ended and cannot be resumed.`,
          400,
        );
      const reply = { SessionId: id, TokenValue: newToken(), StreamUrl: streamUrl(region, id) };
      return {
        reply,
        responseElements: {
          sessionId: id,
          tokenValue: 'Value hidden due to security reasons.',
          streamUrl: reply.StreamUrl,
        },
      };
    },
  );
}

const FILTER_KEYS = ['InvokedAfter', 'InvokedBefore', 'Target', 'Owner', 'Status', 'SessionId'];
const ACTIVE: SessionStatus[] = ['Connected'];

function parseFilterTime(value: string): number {
  const ms = Date.parse(value);
  if (Number.isNaN(ms))
    throw new AwsError('InvalidFilterValue', `The filter value ${value} is not a valid timestamp.`);
  return ms;
}

function sessionFilter(key: string, value: string): (s: SessionRecord) => boolean {
  switch (key) {
    case 'InvokedAfter': {
      const after = parseFilterTime(value);
      return (s) => s.startMs >= after;
    }
    case 'InvokedBefore': {
      const before = parseFilterTime(value);
      return (s) => s.startMs <= before;
    }
    case 'Target':
      return (s) => s.target === value;
    case 'Owner':
      return (s) => s.caller.arn === value || s.caller.userName === value;
    case 'Status':
      return (s) => s.status === value;
    default:
      return (s) => s.id === value;
  }
}

function pageToken(scope: string, offset: number): string {
  return Buffer.from(JSON.stringify({ scope, offset })).toString('base64');
}

function pageOffset(scope: string, token: unknown): number {
  if (token === undefined || token === null || token === '') return 0;
  try {
    const parsed = JSON.parse(Buffer.from(String(token), 'base64').toString('utf8')) as {
      scope?: string;
      offset?: number;
    };
    if (parsed.scope === scope && Number.isInteger(parsed.offset) && parsed.offset! >= 0)
      return parsed.offset!;
  } catch {
    // falls through
  }
  throw new AwsError('InvalidNextToken', 'The specified token is not valid.');
}

async function describeSessions(call: AwsCall, ctx: EmulatorContext) {
  const caller = await callerOf(ctx, call);
  const region = call.region;
  await authorize(ctx, caller, region, 'ssm:DescribeSessions', '*', {});
  const input = (call.input ?? {}) as {
    State?: string;
    Filters?: Array<{ key?: string; value?: string }>;
    MaxResults?: number;
    NextToken?: string;
  };
  if (input.State !== 'Active' && input.State !== 'History') {
    throw new AwsError(
      'ValidationException',
      `1 validation error detected: Value '${input.State ?? 'null'}' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [Active, History]`,
    );
  }
  const maxResults = input.MaxResults ?? 20;
  if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > 200) {
    throw new AwsError(
      'ValidationException',
      `1 validation error detected: Value '${maxResults}' at 'maxResults' failed to satisfy constraint: Member must have value ${maxResults < 1 ? 'greater than or equal to 1' : 'less than or equal to 200'}`,
    );
  }
  const filters = input.Filters ?? [];
  if (filters.length > 6) throw new AwsError('ValidationException', 'At most 6 filters are allowed.');
  const predicates = filters.map((f) => {
    if (!f.key || !FILTER_KEYS.includes(f.key))
      throw new AwsError('InvalidFilterKey', `The filter key ${f.key} is not valid.`);
    if (!f.value) throw new AwsError('InvalidFilterValue', `The filter ${f.key} needs a value.`);
    return sessionFilter(f.key, f.value);
  });
  const sessions = [...sessionsOf(ctx).values()].filter((s) => s.region === region);
  for (const session of sessions) await refresh(ctx, session);
  const historyFrom = Date.now() - 30 * 24 * 3600 * 1000;
  const matching = sessions
    .filter((s) =>
      input.State === 'Active'
        ? ACTIVE.includes(s.status)
        : !ACTIVE.includes(s.status) && (s.endMs ?? 0) >= historyFrom,
    )
    .filter((s) => predicates.every((p) => p(s)))
    .sort((a, b) => b.startMs - a.startMs || (a.id < b.id ? -1 : 1));
  const scope = `DescribeSessions:${input.State}:${JSON.stringify(filters)}`;
  const offset = pageOffset(scope, input.NextToken);
  const page = matching.slice(offset, offset + maxResults);
  const next = offset + page.length;
  return {
    Sessions: page.map((s) => ({
      SessionId: s.id,
      Target: s.target,
      Status: s.status,
      StartDate: s.startMs / 1000,
      ...(s.endMs !== undefined ? { EndDate: s.endMs / 1000 } : {}),
      DocumentName: s.documentName,
      Owner: s.caller.arn,
      ...(s.reason ? { Reason: s.reason } : {}),
      ...(s.details ? { Details: s.details } : {}),
      OutputUrl: { S3OutputUrl: '', CloudWatchOutputUrl: s.outputUrl ?? '' },
      ...(s.prefs.maxMinutes ? { MaxSessionDuration: String(s.prefs.maxMinutes) } : {}),
      AccessType: 'Standard',
    })),
    ...(next < matching.length ? { NextToken: pageToken(scope, next) } : {}),
  };
}

export const sessions: Record<string, OperationHandler> = {
  StartSession: startSession,
  TerminateSession: terminateSession,
  ResumeSession: resumeSession,
  DescribeSessions: describeSessions,
};

// ---------------------------------------------------------------------------------------------
// The data channel stand-in

/** Runs one command in the session on its host and keeps it in the transcript. */
async function runInput(ctx: EmulatorContext, session: SessionRecord, command: string) {
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
