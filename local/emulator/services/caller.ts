import { IAMClient, ListAccessKeysCommand, ListUsersCommand, type User } from '@aws-sdk/client-iam';
import { expiredToken, invalidToken } from '../authorization/errors.js';
import { ADMIN_CREDENTIALS, type EmulatorContext } from '../context.js';
import type { AwsCall } from '../protocol.js';
import { ACCESS_KEY_PATTERN, roleSessionOf, type RoleSession } from './role-sessions.js';

/**
 * Who is calling: the SigV4 access key id of a request (its signature already verified,
 * authorization/signature.ts) names the principal. Keys that IAM issued (CreateAccessKey, stored
 * in moto) belong to their user; `ASIA…` keys the emulator issued for a role (role-sessions.ts)
 * are that role's session; the admin keys (context.ts ADMIN_CREDENTIALS: the operator's, and the
 * `testing` key the tests and the CLI use) are the account's admin (root), which is allowed
 * everything. Any other key is refused, as AWS refuses a key it never issued.
 */

export interface Caller {
  type: 'Root' | 'IAMUser' | 'AssumedRole';
  /** The user's ARN, the account root's, or the session's `arn:aws:sts::…:assumed-role/Role/session`. */
  arn: string;
  accountId: string;
  accessKeyId: string;
  /** The IAM user name; undefined for root and roles. */
  userName?: string;
  /**
   * The IAM unique id (AIDA… for users, the account id for root, `AROA…:session` for a role
   * session), CloudTrail's principalId and aws:userid.
   */
  principalId: string;
  /** For a role session: the role's ARN (with its path), name and unique id, and the session's. */
  roleArn?: string;
  roleName?: string;
  roleId?: string;
  sessionName?: string;
  /** When the session's credentials were issued (aws:TokenIssueTime). */
  issuedAt?: Date;
}

interface KnownKey {
  userName: string;
  arn: string;
  userId: string;
}

interface KeyCache {
  /** Keys found in moto, with their user. */
  users: Map<string, KnownKey>;
}

const keyCache = (ctx: EmulatorContext): KeyCache =>
  ctx.slice('caller:access-keys', () => ({ users: new Map() }));

/** Every IAM-issued key looks like AKIA…; other ids need no lookup. */
const IAM_KEY = /^AKIA[A-Z0-9]{12,}$/;

function rootCaller(accountId: string, accessKeyId: string): Caller {
  return {
    type: 'Root',
    arn: `arn:aws:iam::${accountId}:root`,
    accountId,
    accessKeyId,
    principalId: accountId,
  };
}

/** Scans moto's users and their keys once; IAM is global, so any region's client sees all. */
async function scanKeys(ctx: EmulatorContext, cache: KeyCache): Promise<void> {
  const iam = ctx.moto(IAMClient, 'us-east-1');
  const users: User[] = [];
  let Marker: string | undefined;
  do {
    const page = await iam.send(new ListUsersCommand({ Marker, MaxItems: 1000 }));
    users.push(...(page.Users ?? []));
    Marker = page.IsTruncated ? page.Marker : undefined;
  } while (Marker);
  for (const user of users) {
    const keys = await iam.send(new ListAccessKeysCommand({ UserName: user.UserName, MaxItems: 1000 }));
    for (const key of keys.AccessKeyMetadata ?? []) {
      if (key.AccessKeyId)
        cache.users.set(key.AccessKeyId, { userName: user.UserName!, arn: user.Arn!, userId: user.UserId! });
    }
  }
}

/** Whether the user still holds the key and it is Active (keys can be deleted or deactivated). */
async function stillActive(ctx: EmulatorContext, known: KnownKey, accessKeyId: string): Promise<boolean> {
  try {
    const keys = await ctx
      .moto(IAMClient, 'us-east-1')
      .send(new ListAccessKeysCommand({ UserName: known.userName, MaxItems: 1000 }));
    return (keys.AccessKeyMetadata ?? []).some((k) => k.AccessKeyId === accessKeyId && k.Status === 'Active');
  } catch (err) {
    if ((err as Error).name === 'NoSuchEntityException') return false;
    throw err;
  }
}

/**
 * The principal behind the call's access key. A key that belonged to an IAM user but was deleted
 * or deactivated is refused as AWS refuses it (UnrecognizedClientException), and so is a key
 * neither IAM, the emulator nor ADMIN_CREDENTIALS issued.
 */
export function callerOf(ctx: EmulatorContext, call: AwsCall): Promise<Caller> {
  // Resolved once per request: the authorization hook and the handler both ask.
  let caller = resolved.get(call);
  if (!caller) {
    caller = resolveCaller(ctx, call);
    resolved.set(call, caller);
  }
  return caller;
}

const resolved = new WeakMap<AwsCall, Promise<Caller>>();

async function resolveCaller(ctx: EmulatorContext, call: AwsCall): Promise<Caller> {
  const accessKeyId = call.accessKeyId ?? '';
  if (ACCESS_KEY_PATTERN.test(accessKeyId)) return roleSessionCaller(ctx, call, accessKeyId);
  if (ADMIN_CREDENTIALS.some((admin) => admin.accessKeyId === accessKeyId))
    return rootCaller(ctx.accountId, accessKeyId);
  if (!IAM_KEY.test(accessKeyId)) throw invalidToken(call);
  const cache = keyCache(ctx);
  let known = cache.users.get(accessKeyId);
  if (known) {
    // Verified on every use: one cheap call, and deletions in moto need no interception.
    if (!(await stillActive(ctx, known, accessKeyId))) throw invalidToken(call);
  } else {
    await scanKeys(ctx, cache);
    known = cache.users.get(accessKeyId);
    if (!known) throw invalidToken(call);
    if (!(await stillActive(ctx, known, accessKeyId))) throw invalidToken(call);
  }
  return {
    type: 'IAMUser',
    arn: known.arn,
    accountId: ctx.accountId,
    accessKeyId,
    userName: known.userName,
    principalId: known.userId,
  };
}

/**
 * An `ASIA…` key: the role session the emulator issued it for. A key it never issued is invalid,
 * an expired one ExpiredToken, and the request must carry the session's token, as in AWS.
 */
function roleSessionCaller(ctx: EmulatorContext, call: AwsCall, accessKeyId: string): Caller {
  const session = roleSessionOf(ctx, accessKeyId);
  const token = call.raw.headers['x-amz-security-token'];
  if (!session || token !== session.sessionToken) throw invalidToken(call);
  if (Date.now() >= session.expiresAtMs) throw expiredToken(call);
  return sessionCaller(ctx, session);
}

/** The caller a role session is: what a request signed with its credentials is authorized as. */
export function sessionCaller(ctx: EmulatorContext, session: RoleSession): Caller {
  return {
    type: 'AssumedRole',
    arn: `arn:aws:sts::${ctx.accountId}:assumed-role/${session.roleName}/${session.sessionName}`,
    accountId: ctx.accountId,
    accessKeyId: session.accessKeyId,
    principalId: `${session.roleId}:${session.sessionName}`,
    roleArn: session.roleArn,
    roleName: session.roleName,
    roleId: session.roleId,
    sessionName: session.sessionName,
    issuedAt: new Date(session.issuedAtMs),
  };
}

const PRINCIPAL_TYPES: Record<Caller['type'], string> = {
  Root: 'Account',
  IAMUser: 'User',
  AssumedRole: 'AssumedRole',
};

const isoSeconds = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * The global condition keys AWS puts in every request context for this caller, so policies that
 * use `${aws:username}` or `aws:PrincipalArn` are evaluated as for a live request. For a role
 * session aws:PrincipalArn is the role's ARN (not the session's), as AWS documents it.
 * `principalTags` are the user's or role's tags (aws:PrincipalTag/<key>).
 */
export function requestContext(
  caller: Caller,
  region: string,
  now = new Date(),
  principalTags: Record<string, string> = {},
): Record<string, string> {
  const context: Record<string, string> = {
    'aws:PrincipalArn': caller.roleArn ?? caller.arn,
    'aws:PrincipalAccount': caller.accountId,
    'aws:PrincipalType': PRINCIPAL_TYPES[caller.type],
    'aws:userid': caller.principalId,
    'aws:CurrentTime': isoSeconds(now),
    'aws:EpochTime': String(Math.floor(now.getTime() / 1000)),
    'aws:SecureTransport': 'true',
    'aws:RequestedRegion': region,
    'aws:ViaAWSService': 'false',
  };
  if (caller.userName) context['aws:username'] = caller.userName;
  if (caller.issuedAt) context['aws:TokenIssueTime'] = isoSeconds(caller.issuedAt);
  if (caller.type !== 'Root') context['aws:PrincipalIsAWSService'] = 'false';
  for (const [key, value] of Object.entries(principalTags)) context[`aws:PrincipalTag/${key}`] = value;
  return context;
}
