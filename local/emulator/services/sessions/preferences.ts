import { GetDocumentCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { EmulatorContext } from '../../context.js';
import { AwsError } from '../../protocol.js';

/**
 * Session documents and session preferences: which document a session opens, what kind of stream
 * it is, and the preferences (logging, Run As, timeouts, shell profile) that apply to it.
 */

export const PREFERENCES_DOCUMENT = 'SSM-SessionManagerRunShell';

/** AWS's default idle timeout when the preferences set none. */
const DEFAULT_IDLE_MINUTES = 20;
/** The AWS-owned session documents (moto has none of them) and what kind of stream each opens. */
export const AWS_SESSION_DOCUMENTS: Record<string, SessionKind> = {
  'AWS-StartSSHSession': 'port',
  'AWS-StartPortForwardingSession': 'port',
  'AWS-StartPortForwardingSessionToRemoteHost': 'port',
  'AWS-StartPortForwardingSessionToSocket': 'port',
  'AWS-StartInteractiveCommand': 'command',
  'AWS-StartNonInteractiveCommand': 'command',
};

/** Standard_Stream: a shell; InteractiveCommands: a command; Port: forwarding (never logged). */
export type SessionKind = 'shell' | 'command' | 'port';

export interface Preferences {
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

export interface ResolvedDocument {
  name: string;
  arn: string;
  kind: SessionKind;
  prefs: Preferences;
}

/**
 * The session document and the preferences that apply: a custom Session document carries its own
 * inputs; the default and AWS-owned documents use the account's SSM-SessionManagerRunShell.
 */
export async function resolveDocument(
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
