import type { EmulatorContext } from '../../context.js';
import { AwsError, type AwsCall } from '../../protocol.js';
import { callerOf } from '../caller.js';
import { decodeToken, pageAt, rangeError } from '../paging.js';
import { authorize } from './audit.js';
import { refresh } from './lifecycle.js';
import { sessionsOf, type SessionRecord, type SessionStatus } from './records.js';

/** DescribeSessions: the region's active sessions or their history, filtered and paged. */

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

export async function describeSessions(call: AwsCall, ctx: EmulatorContext) {
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
  if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > 200)
    throw rangeError('maxResults', maxResults, 1, 200);
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
  const offset = decodeToken(scope, input.NextToken);
  const { page, nextToken } = pageAt(matching, scope, offset, maxResults);
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
    ...(nextToken ? { NextToken: nextToken } : {}),
  };
}
