import { createHash, randomUUID } from 'node:crypto';
import type { EmulatorContext, OperationHandler } from '../context.js';
import { AwsError, type AwsCall } from '../protocol.js';
import type { Caller } from './caller.js';

/**
 * CloudTrail event history for the API calls the emulator serves itself and AWS records as
 * management events (the session operations). Events become visible after a delivery delay, as in
 * AWS ("within an average of about 5 minutes"), so code that looks them up has to poll.
 */

/** Model seconds from the call until LookupEvents shows it; scaled by the clock like every delay. */
export const TRAIL_DELIVERY_SECONDS = 120;

export interface TrailResource {
  ResourceType: string;
  ResourceName: string;
  /** The ARN CloudTrail puts in the event record's resources list. */
  arn?: string;
}

interface TrailEvent {
  eventId: string;
  eventName: string;
  eventSource: string;
  region: string;
  time: Date;
  /** Real ms from which LookupEvents returns the event. */
  visibleAt: number;
  readOnly: boolean;
  accessKeyId: string;
  username: string;
  resources: TrailResource[];
  record: Record<string, unknown>;
}

const trail = (ctx: EmulatorContext) => ctx.slice('cloudtrail:events', () => [] as TrailEvent[]);

export interface RecordedCall {
  call: AwsCall;
  caller: Caller;
  eventName: string;
  eventSource: string;
  readOnly?: boolean;
  requestParameters: Record<string, unknown>;
  responseElements?: Record<string, unknown> | null;
  /** The AWS error the call ended with; AccessDeniedException is recorded as AccessDenied, as CloudTrail does. */
  error?: AwsError;
  resources: TrailResource[];
}

/** CloudTrail's seconds-precision ISO time. */
const isoSeconds = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, 'Z');

function userIdentity(caller: Caller): Record<string, unknown> {
  const identity: Record<string, unknown> = {
    type: caller.type,
    principalId: caller.principalId,
    arn: caller.arn,
    accountId: caller.accountId,
    accessKeyId: caller.accessKeyId,
  };
  if (caller.userName) identity.userName = caller.userName;
  if (caller.type === 'AssumedRole') {
    identity.sessionContext = {
      sessionIssuer: {
        type: 'Role',
        principalId: caller.roleId,
        arn: caller.roleArn,
        accountId: caller.accountId,
        userName: caller.roleName,
      },
      attributes: {
        creationDate: caller.issuedAt?.toISOString().replace(/\.\d{3}Z$/, 'Z'),
        mfaAuthenticated: 'false',
      },
    };
  }
  return identity;
}

/** Records one call in the event history of its region. */
export function recordEvent(ctx: EmulatorContext, e: RecordedCall): void {
  const time = new Date();
  const eventId = randomUUID();
  const errorCode = e.error && (e.error.code === 'AccessDeniedException' ? 'AccessDenied' : e.error.code);
  const readOnly = e.readOnly ?? false;
  const record: Record<string, unknown> = {
    eventVersion: '1.09',
    userIdentity: userIdentity(e.caller),
    eventTime: isoSeconds(time),
    eventSource: e.eventSource,
    eventName: e.eventName,
    awsRegion: e.call.region,
    sourceIPAddress: '127.0.0.1',
    userAgent: String(e.call.raw.headers['user-agent'] ?? 'unknown'),
    ...(errorCode ? { errorCode, errorMessage: e.error!.message } : {}),
    requestParameters: e.requestParameters,
    responseElements: e.error ? null : (e.responseElements ?? null),
    requestID: randomUUID(),
    eventID: eventId,
    readOnly,
    resources: e.resources.map((r) => ({
      accountId: ctx.accountId,
      type: r.ResourceType,
      ARN: r.arn ?? r.ResourceName,
    })),
    eventType: 'AwsApiCall',
    managementEvent: true,
    recipientAccountId: ctx.accountId,
    eventCategory: 'Management',
  };
  trail(ctx).push({
    eventId,
    eventName: e.eventName,
    eventSource: e.eventSource,
    region: e.call.region,
    time,
    visibleAt: Date.now() + ctx.clock.realMs(TRAIL_DELIVERY_SECONDS),
    readOnly,
    accessKeyId: e.caller.accessKeyId,
    username: e.caller.userName ?? 'root',
    resources: e.resources,
    record,
  });
}

// ---------------------------------------------------------------------------------------------
// LookupEvents

const ATTRIBUTE_KEYS = [
  'EventId',
  'EventName',
  'ReadOnly',
  'Username',
  'ResourceType',
  'ResourceName',
  'EventSource',
  'AccessKeyId',
] as const;
type AttributeKey = (typeof ATTRIBUTE_KEYS)[number];

const MATCHERS: Record<AttributeKey, (e: TrailEvent, value: string) => boolean> = {
  EventId: (e, v) => e.eventId === v,
  EventName: (e, v) => e.eventName === v,
  ReadOnly: (e, v) => String(e.readOnly) === v,
  Username: (e, v) => e.username === v,
  ResourceType: (e, v) => e.resources.some((r) => r.ResourceType === v),
  ResourceName: (e, v) => e.resources.some((r) => r.ResourceName === v),
  EventSource: (e, v) => e.eventSource === v,
  AccessKeyId: (e, v) => e.accessKeyId === v,
};

/** The JSON protocol sends timestamps as epoch seconds (possibly fractional). */
function timestamp(value: unknown, field: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const seconds = typeof value === 'number' ? value : Number(value);
  if (!Number.isFinite(seconds))
    throw new AwsError('InvalidTimeRangeException', `${field} is not a valid time.`);
  return seconds * 1000;
}

/** A page token bound to the query it came from, so a token from another query is refused. */
function tokenScope(input: Record<string, unknown>): string {
  const { LookupAttributes, StartTime, EndTime, EventCategory } = input;
  return createHash('sha256')
    .update(JSON.stringify({ LookupAttributes, StartTime, EndTime, EventCategory }))
    .digest('hex')
    .slice(0, 16);
}

interface Cursor {
  scope: string;
  /** The last event returned: the next page continues with older events, so new arrivals do not shift it. */
  time: number;
  id: string;
}

function decodeNextToken(token: unknown, scope: string): Cursor | undefined {
  if (token === undefined || token === null || token === '') return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(String(token), 'base64url').toString('utf8')) as Partial<Cursor>;
    if (parsed.scope === scope && typeof parsed.time === 'number' && typeof parsed.id === 'string')
      return parsed as Cursor;
  } catch {
    // falls through to the error below
  }
  throw new AwsError('InvalidNextTokenException', 'Invalid NextToken.');
}

/** Newest first, as CloudTrail returns them; the event id breaks ties so the order is total. */
const newestFirst = (a: TrailEvent, b: TrailEvent) =>
  b.time.getTime() - a.time.getTime() || (a.eventId < b.eventId ? 1 : a.eventId > b.eventId ? -1 : 0);

const olderThan = (e: TrailEvent, cursor: Cursor) =>
  e.time.getTime() < cursor.time || (e.time.getTime() === cursor.time && e.eventId < cursor.id);

async function lookupEvents(call: AwsCall, ctx: EmulatorContext) {
  const input = (call.input ?? {}) as Record<string, unknown>;
  const attributes = (input.LookupAttributes ?? []) as Array<{
    AttributeKey?: string;
    AttributeValue?: string;
  }>;
  if (!Array.isArray(attributes) || attributes.length > 1)
    throw new AwsError('InvalidLookupAttributesException', 'You can specify at most one lookup attribute.');
  const attribute = attributes[0];
  if (attribute) {
    if (!ATTRIBUTE_KEYS.includes(attribute.AttributeKey as AttributeKey))
      throw new AwsError(
        'InvalidLookupAttributesException',
        `Invalid AttributeKey ${attribute.AttributeKey}; valid keys: ${ATTRIBUTE_KEYS.join(', ')}.`,
      );
    if (!attribute.AttributeValue)
      throw new AwsError('InvalidLookupAttributesException', 'AttributeValue must not be empty.');
  }
  if (input.EventCategory !== undefined && input.EventCategory !== 'insight')
    throw new AwsError(
      'InvalidEventCategoryException',
      `Invalid EventCategory ${String(input.EventCategory)}.`,
    );
  const maxResults = input.MaxResults === undefined ? 50 : Number(input.MaxResults);
  if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > 50)
    throw new AwsError('InvalidMaxResultsException', 'MaxResults must be between 1 and 50.');
  const now = Date.now();
  const start = timestamp(input.StartTime, 'StartTime') ?? now - 90 * 24 * 3600 * 1000;
  const end = timestamp(input.EndTime, 'EndTime') ?? now;
  if (start > end) throw new AwsError('InvalidTimeRangeException', 'StartTime must be before EndTime.');
  const scope = tokenScope(input);
  const cursor = decodeNextToken(input.NextToken, scope);

  // Only management events are recorded here; Insights events never exist in the emulator.
  const matching =
    input.EventCategory === 'insight'
      ? []
      : trail(ctx)
          .filter(
            (e) =>
              e.region === call.region &&
              e.visibleAt <= now &&
              e.time.getTime() >= start &&
              e.time.getTime() <= end &&
              (!cursor || olderThan(e, cursor)) &&
              (!attribute || MATCHERS[attribute.AttributeKey as AttributeKey](e, attribute.AttributeValue!)),
          )
          .sort(newestFirst);
  const page = matching.slice(0, maxResults);
  const last = page[page.length - 1];
  return {
    Events: page.map((e) => ({
      EventId: e.eventId,
      EventName: e.eventName,
      ReadOnly: String(e.readOnly),
      AccessKeyId: e.accessKeyId,
      EventTime: e.time.getTime() / 1000,
      EventSource: e.eventSource,
      Username: e.username,
      Resources: e.resources.map(({ ResourceType, ResourceName }) => ({ ResourceType, ResourceName })),
      CloudTrailEvent: JSON.stringify(e.record),
    })),
    ...(last && matching.length > page.length
      ? {
          NextToken: Buffer.from(
            JSON.stringify({ scope, time: last.time.getTime(), id: last.eventId }),
          ).toString('base64url'),
        }
      : {}),
  };
}

export const cloudTrail: Record<string, OperationHandler> = {
  LookupEvents: lookupEvents,
};
