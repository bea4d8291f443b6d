import { GetInstanceProfileCommand, IAMClient } from '@aws-sdk/client-iam';
import { authorizeRequests } from '../authorization/evaluate.js';
import { resourceTagContext } from '../authorization/context-keys.js';
import type { EmulatorContext } from '../context.js';
import { AwsError } from '../protocol.js';
import { sessionCaller, type Caller } from './caller.js';
import { assumeRoleAsService, type ServiceAssumption } from './role-credentials.js';
import type { RoleSession } from './role-sessions.js';

/**
 * The credentials of the simulated lab hosts, as AWS hands them out, and the agent's one question
 * about them. Each is a real role session (role-sessions.ts): a request signed with it, or an
 * action authorized for it here, is evaluated like any other caller's (authorization/evaluate.ts).
 *
 * - An EC2 instance with an instance profile: the profile role's session for ec2.amazonaws.com,
 *   named after the instance id (what the instance metadata service serves to the agent and to
 *   the CLI).
 * - A hybrid node: its activation's role for ssm.amazonaws.com, named after the mi- id, with the
 *   managed instance as aws:SourceArn and the account as aws:SourceAccount (the condition keys the
 *   product's SSMServiceRole trust policy checks).
 * - Default Host Management Configuration: the setting's role for ssm.amazonaws.com, named after the
 *   instance id, for an instance whose profile does not make it a managed node.
 *
 * A trust policy that refuses the service leaves the host without those credentials. A session is
 * reused until five minutes before it expires (IMDS and the agent refresh ahead of expiry); a
 * refusal is asked again after IAM_REUSE_MS.
 */

/**
 * IAM answers the fleet reuses for a moment: real IAM changes also take a while to reach instances
 * (eventual consistency), and each moto read costs tens of milliseconds, so polling
 * DescribeInstanceInformation or a script's many `aws` calls must not repeat them every time.
 */
export const IAM_REUSE_MS = 1000;

export function reuseIamRead<T>(ctx: EmulatorContext, key: string, read: () => Promise<T>): Promise<T> {
  const cache = ctx.slice(
    'node-credentials:reuse',
    () => new Map<string, { at: number; value: Promise<unknown> }>(),
  );
  const hit = cache.get(key);
  if (hit && Date.now() - hit.at < IAM_REUSE_MS) return hit.value as Promise<T>;
  const value = read();
  cache.set(key, { at: Date.now(), value });
  value.catch(() => cache.delete(key));
  return value;
}

/** Credentials are refreshed this long before they expire. */
const REFRESH_MS = 5 * 60_000;

const sessionsOf = (ctx: EmulatorContext) =>
  ctx.slice('node-credentials:sessions', () => new Map<string, RoleSession>());

/**
 * The role session `assumption` gets, reused while it is fresh; undefined when the role is gone or
 * its trust policy refuses the service (what the host would see: no credentials).
 */
async function serviceSession(
  ctx: EmulatorContext,
  assumption: ServiceAssumption,
): Promise<RoleSession | undefined> {
  const key = JSON.stringify([
    assumption.service,
    assumption.roleArn,
    assumption.sessionName,
    assumption.sourceArn,
  ]);
  const held = sessionsOf(ctx).get(key);
  if (held && held.expiresAtMs - Date.now() > REFRESH_MS) return held;
  return reuseIamRead(ctx, `assume:${key}`, async () => {
    try {
      const session = await assumeRoleAsService(ctx, assumption);
      sessionsOf(ctx).set(key, session);
      return session;
    } catch (err) {
      if (err instanceof AwsError && err.code === 'AccessDenied') return undefined;
      throw err;
    }
  });
}

/** The role inside an instance profile ARN (name and ARN), or undefined when the profile or its role is gone. */
export function profileRole(
  ctx: EmulatorContext,
  instanceProfileArn: string,
): Promise<{ name: string; arn: string } | undefined> {
  return reuseIamRead(ctx, `profile:${instanceProfileArn}`, async () => {
    const name = instanceProfileArn.slice(instanceProfileArn.lastIndexOf('/') + 1);
    try {
      const { InstanceProfile } = await ctx
        .moto(IAMClient, 'us-east-1')
        .send(new GetInstanceProfileCommand({ InstanceProfileName: name }));
      const role = InstanceProfile?.Roles?.[0];
      return role?.RoleName && role.Arn ? { name: role.RoleName, arn: role.Arn } : undefined;
    } catch (err) {
      if ((err as Error).name.startsWith('NoSuchEntity')) return undefined;
      throw err;
    }
  });
}

/** What the instance metadata service hands out: the instance profile role's session, if any. */
export async function instanceProfileSession(
  ctx: EmulatorContext,
  host: { instanceId: string; instanceProfileArn?: string },
): Promise<RoleSession | undefined> {
  if (!host.instanceProfileArn) return undefined;
  const role = await profileRole(ctx, host.instanceProfileArn);
  if (!role) return undefined;
  return serviceSession(ctx, {
    roleArn: role.arn,
    service: 'ec2.amazonaws.com',
    sessionName: host.instanceId,
  });
}

/** A role name as activations and the DHMC setting hold it (`service-role/Name` or `Name`) as its ARN. */
const roleArnOf = (ctx: EmulatorContext, role: string) =>
  `arn:aws:iam::${ctx.accountId}:role/${role.replace(/^\/+/, '')}`;

/** A hybrid node's credentials: its activation's role, assumed by Systems Manager for it. */
export function hybridSession(
  ctx: EmulatorContext,
  node: { id: string; region: string; iamRole: string },
): Promise<RoleSession | undefined> {
  return serviceSession(ctx, {
    roleArn: roleArnOf(ctx, node.iamRole),
    service: 'ssm.amazonaws.com',
    sessionName: node.id,
    sourceAccount: ctx.accountId,
    sourceArn: `arn:aws:ssm:${node.region}:${ctx.accountId}:managed-instance/${node.id}`,
  });
}

/** The DHMC role's session for an EC2 instance, when `roleName` (the setting's value) is set. */
export function dhmcSession(
  ctx: EmulatorContext,
  host: { instanceId: string; region: string },
  roleName: string,
): Promise<RoleSession | undefined> {
  return serviceSession(ctx, {
    roleArn: roleArnOf(ctx, roleName),
    service: 'ssm.amazonaws.com',
    sessionName: host.instanceId,
    sourceAccount: ctx.accountId,
    sourceArn: `arn:aws:ec2:${host.region}:${ctx.accountId}:instance/${host.instanceId}`,
  });
}

/** The caller a host's session is, for authorizing what the host does directly (not over HTTP). */
export const nodeCaller = (ctx: EmulatorContext, session: RoleSession): Caller => sessionCaller(ctx, session);

/**
 * Whether the agent holding `session` may report as the node (ssm:UpdateInstanceInformation on
 * it, the call that keeps a node Online), authorized with the full evaluator and the node's tags
 * (given here: the node record is what is being built). The answer is reused for IAM_REUSE_MS,
 * like the agent's last heartbeat.
 */
export function agentMayReport(
  ctx: EmulatorContext,
  session: RoleSession,
  region: string,
  nodeId: string,
  tags: Record<string, string>,
): Promise<boolean> {
  const resource = nodeId.startsWith('mi-')
    ? `arn:aws:ssm:${region}:${ctx.accountId}:managed-instance/${nodeId}`
    : `arn:aws:ec2:${region}:${ctx.accountId}:instance/${nodeId}`;
  return reuseIamRead(ctx, `report:${session.accessKeyId}:${nodeId}`, async () => {
    try {
      await authorizeRequests(ctx, { protocol: 'json', service: 'ssm', region }, nodeCaller(ctx, session), [
        { action: 'ssm:UpdateInstanceInformation', resource, context: resourceTagContext('ssm', tags) },
      ]);
      return true;
    } catch (err) {
      if (err instanceof AwsError && err.code === 'AccessDeniedException') return false;
      throw err;
    }
  });
}
