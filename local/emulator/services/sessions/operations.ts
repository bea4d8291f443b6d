import { randomBytes } from 'node:crypto';
import { IAMClient, ListUserTagsCommand } from '@aws-sdk/client-iam';
import type { EmulatorContext, OperationHandler } from '../../context.js';
import { AwsError, type AwsCall } from '../../protocol.js';
import { callerOf, type Caller } from '../caller.js';
import { findNode } from '../managed-nodes/nodes.js';
import { effectiveActivationTier } from '../service-settings.js';
import {
  audited,
  authorize,
  sessionResource,
  sessionTagContext,
  tagContext,
  trailResourceFor,
} from './audit.js';
import { describeSessions } from './describe.js';
import { refresh, runInput, terminate } from './lifecycle.js';
import { loggingPlan } from './logging.js';
import {
  AWS_SESSION_DOCUMENTS,
  PREFERENCES_DOCUMENT,
  resolveDocument,
  type Preferences,
} from './preferences.js';
import {
  EC2_ID,
  MANAGED_ID,
  sessionArn,
  sessionIn,
  sessionsOf,
  targetArn,
  type SessionRecord,
} from './records.js';

/**
 * Session Manager: StartSession, DescribeSessions, TerminateSession and ResumeSession, authorized
 * by the caller's IAM policies (the same evaluator as the policy simulator), refused with AWS's
 * errors for nodes that are not connected and for hybrid nodes on the standard tier. A session runs
 * commands on its node's simulated host (the `session-input` control endpoint stands in for the
 * WebSocket data channel) and its transcript goes to CloudWatch Logs as the preferences document
 * says, checked the way the agent checks it.
 */

const newToken = () => randomBytes(96).toString('base64');

const streamUrl = (region: string, id: string) =>
  `wss://ssmmessages.${region}.amazonaws.com/v1/data-channel/${id}?role=publish_subscribe`;

/** The answer that opens session `id`'s data channel, and what CloudTrail shows of it. */
function dataChannel(region: string, id: string) {
  const reply = { SessionId: id, TokenValue: newToken(), StreamUrl: streamUrl(region, id) };
  return {
    reply,
    responseElements: {
      sessionId: id,
      tokenValue: 'Value hidden due to security reasons.',
      streamUrl: reply.StreamUrl,
    },
  };
}

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
      return dataChannel(region, session.id);
    },
  );
}

/**
 * An operation on the session `SessionId` names (TerminateSession, ResumeSession): recorded in
 * CloudTrail and authorized on the session with its AWS-supplied tags, then `run` on it (undefined:
 * no such session in the region).
 */
async function onSession<T extends Record<string, unknown>>(
  call: AwsCall,
  ctx: EmulatorContext,
  eventName: 'TerminateSession' | 'ResumeSession',
  run: (
    session: SessionRecord | undefined,
    id: string,
  ) => Promise<{ reply: T; responseElements: Record<string, unknown> }>,
  { requireId = false } = {},
): Promise<T> {
  const caller = await callerOf(ctx, call);
  const region = call.region;
  const id = String(call.input?.SessionId ?? '');
  return audited(
    ctx,
    call,
    caller,
    {
      eventName,
      requestParameters: { sessionId: id },
      resources: () => [sessionResource(ctx, region, id)],
    },
    async () => {
      if (requireId && !id)
        throw new AwsError(
          'ValidationException',
          "1 validation error detected: Value null at 'sessionId' failed to satisfy constraint: Member must not be null",
        );
      const session = sessionIn(ctx, region, id);
      await authorize(
        ctx,
        caller,
        region,
        `ssm:${eventName}`,
        sessionArn(ctx, region, id),
        sessionTagContext(session, id),
      );
      return run(session, id);
    },
  );
}

const terminateSession = (call: AwsCall, ctx: EmulatorContext) =>
  onSession(
    call,
    ctx,
    'TerminateSession',
    async (session, id) => {
      // Terminating an ended or unknown session succeeds: the operation is idempotent.
      if (session) {
        await refresh(ctx, session);
        terminate(ctx, session);
      }
      return { reply: { SessionId: id }, responseElements: { sessionId: id } };
    },
    { requireId: true },
  );

const resumeSession = (call: AwsCall, ctx: EmulatorContext) =>
  onSession(call, ctx, 'ResumeSession', async (session, id) => {
    if (session) await refresh(ctx, session);
    if (!session || session.status !== 'Connected')
      throw new AwsError(
        'DoesNotExistException',
        `Session ${id} does not exist or has ended and cannot be resumed.`,
        400,
      );
    return dataChannel(call.region, id);
  });

export const sessions: Record<string, OperationHandler> = {
  StartSession: startSession,
  TerminateSession: terminateSession,
  ResumeSession: resumeSession,
  DescribeSessions: describeSessions,
};
