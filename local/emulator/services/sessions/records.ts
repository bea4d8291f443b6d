import type { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import type { EmulatorContext } from '../../context.js';
import type { Caller } from '../caller.js';
import type { Preferences, SessionKind } from './preferences.js';

/** What the emulator keeps of a session, where it keeps it, and the ARNs that name sessions and their targets. */

export type SessionStatus = 'Connected' | 'Terminating' | 'Terminated' | 'Failed';

export interface TranscriptEntry {
  at: Date;
  input: string;
  output: string;
}

export interface SessionRecord {
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

export const sessionsOf = (ctx: EmulatorContext) =>
  ctx.slice('sessions', () => new Map<string, SessionRecord>());

export const EC2_ID = /^i-[0-9a-f]{8,17}$/;
export const MANAGED_ID = /^mi-[0-9a-f]{17}$/;

export function targetArn(ctx: EmulatorContext, region: string, target: string): string {
  return MANAGED_ID.test(target)
    ? `arn:aws:ssm:${region}:${ctx.accountId}:managed-instance/${target}`
    : `arn:aws:ec2:${region}:${ctx.accountId}:instance/${target}`;
}

export const sessionArn = (ctx: EmulatorContext, region: string, id: string) =>
  `arn:aws:ssm:${region}:${ctx.accountId}:session/${id}`;

/** Session ids are scoped to their region, as AWS scopes them. */
export function sessionIn(ctx: EmulatorContext, region: string, id: string): SessionRecord | undefined {
  const session = sessionsOf(ctx).get(id);
  return session && session.region === region ? session : undefined;
}
