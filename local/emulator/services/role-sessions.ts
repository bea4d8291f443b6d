import { randomBytes } from 'node:crypto';
import type { EmulatorContext } from '../context.js';

/**
 * Temporary credentials the emulator issued for a role (STS AssumeRole, or the control endpoint
 * through which the local runner acts as a service): `ASIA…` keys with a secret, a session token
 * and an expiration. caller.ts resolves them to the assumed-role session.
 */

export interface RoleSession {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  /** Real time (Date.now()): the SDK compares an expiration with the wall clock to refresh. */
  issuedAtMs: number;
  expiresAtMs: number;
  roleArn: string;
  roleName: string;
  /** The role's unique id (AROA…). */
  roleId: string;
  sessionName: string;
}

const sessionsOf = (ctx: EmulatorContext) => ctx.slice('role-sessions', () => new Map<string, RoleSession>());

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function keyId(): string {
  const bytes = randomBytes(16);
  return `ASIA${Array.from(bytes, (b) => ALPHANUMERIC[b % 32]).join('')}`;
}

export const ACCESS_KEY_PATTERN = /^ASIA[A-Z0-9]{16}$/;

export function issueRoleSession(
  ctx: EmulatorContext,
  role: { roleArn: string; roleName: string; roleId: string },
  sessionName: string,
  durationSeconds: number,
): RoleSession {
  const now = Date.now();
  const session: RoleSession = {
    ...role,
    accessKeyId: keyId(),
    secretAccessKey: randomBytes(30).toString('base64').slice(0, 40),
    sessionToken: `IQoJb3JpZ2luX2VjE${randomBytes(96).toString('base64')}`,
    issuedAtMs: now,
    expiresAtMs: now + durationSeconds * 1000,
    sessionName,
  };
  sessionsOf(ctx).set(session.accessKeyId, session);
  return session;
}

export function roleSessionOf(ctx: EmulatorContext, accessKeyId: string): RoleSession | undefined {
  return sessionsOf(ctx).get(accessKeyId);
}

/** The credentials as the SDK and the control endpoint hand them out. */
export function credentialsOf(session: RoleSession) {
  return {
    accessKeyId: session.accessKeyId,
    secretAccessKey: session.secretAccessKey,
    sessionToken: session.sessionToken,
    expiration: new Date(session.expiresAtMs).toISOString(),
  };
}
