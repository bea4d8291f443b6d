import { DescribeSecurityGroupsCommand, EC2Client, type IpPermission } from '@aws-sdk/client-ec2';
import type { ControlHandler, EmulatorContext } from '../context.js';
import { AwsError } from '../protocol.js';
import { consumeActivation, RegistrationRefused } from './activations.js';
import { keyDigest } from './ec2-fidelity.js';
import {
  addHybridNode,
  clearRegistration,
  findHost,
  hasRegistration,
  hostAgent,
  hostRegistration,
  listHosts,
  setAgentRunning,
  type HostView,
} from './managed-nodes/fleet.js';
import { hybridSession, instanceProfileSession } from './node-credentials.js';
import { credentialsOf } from './role-sessions.js';

/**
 * The control endpoints behind the simulated host commands (host-commands/). Each request names the
 * calling host; the endpoint answers from the emulator's state the way the real system would answer
 * that host: the CLI's credentials as the instance metadata service or the agent hands them out
 * (the CLI then signs its own requests to the emulator's endpoint), ssh through security groups
 * and the key pair, the agent through activations.
 */

interface HostRequest {
  hostInstanceId?: string;
  region?: string;
}

async function callingHost(body: unknown, ctx: EmulatorContext): Promise<HostView> {
  const { hostInstanceId, region } = (body ?? {}) as HostRequest;
  const host = hostInstanceId && region ? await findHost(ctx, region, hostInstanceId) : undefined;
  if (!host) throw new AwsError('NoHost', `no simulated host ${hostInstanceId} in ${region}`, 404);
  return host;
}

// ---- the credentials `aws` finds on a host ----

/**
 * POST /__emulator/host-credentials {osUser}: the credentials the AWS CLI's default chain finds on
 * the host once the environment and the user's own ~/.aws files (which the command reads itself)
 * have none: for root on a host whose agent is registered on-prem, the hybrid node's credentials
 * in /root/.aws/credentials (the agent shares them with root by default: ShareCreds true, profile
 * "default"); else the instance profile role's session from the instance metadata service; else
 * none (an EC2 instance without a profile has no credentials for the CLI, DHMC's stay the agent's).
 */
async function hostCredentials(body: unknown, ctx: EmulatorContext) {
  const host = await callingHost(body, ctx);
  const { osUser } = (body ?? {}) as { osUser?: string };
  const registered = osUser === 'root' ? hostRegistration(ctx, host) : undefined;
  if (registered) {
    const session = await hybridSession(ctx, registered);
    if (session) return { source: 'shared-credentials-file', ...credentialsOf(session) };
  }
  const session = await instanceProfileSession(ctx, host);
  if (session) return { source: 'instance-metadata', ...credentialsOf(session) };
  throw new AwsError(
    'NoCredentials',
    'Unable to locate credentials. You can configure credentials by running "aws configure".',
  );
}

// ---- ssh ----

function ipToInt(ip: string): number | undefined {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
  return parts.reduce((acc, p) => acc * 256 + p, 0);
}

export function cidrContains(cidr: string, ip: string): boolean {
  const [base, bitsText] = cidr.split('/');
  const bits = Number(bitsText ?? 32);
  const a = ipToInt(base ?? '');
  const b = ipToInt(ip);
  if (a === undefined || b === undefined || !(bits >= 0 && bits <= 32)) return false;
  const size = 2 ** (32 - bits);
  return Math.floor(a / size) === Math.floor(b / size);
}

/** A rule lets tcp/`port` through from the peer (by group or by address). */
function ruleAdmits(
  rule: IpPermission,
  port: number,
  peerGroups: string[],
  peerIp: string | undefined,
): boolean {
  const protocol = String(rule.IpProtocol ?? '');
  if (protocol !== '-1') {
    if (protocol !== 'tcp' && protocol !== '6') return false;
    if (port < (rule.FromPort ?? 0) || port > (rule.ToPort ?? 65535)) return false;
  }
  if ((rule.UserIdGroupPairs ?? []).some((pair) => pair.GroupId && peerGroups.includes(pair.GroupId)))
    return true;
  return (
    peerIp !== undefined && (rule.IpRanges ?? []).some((r) => r.CidrIp && cidrContains(r.CidrIp, peerIp))
  );
}

async function groups(ctx: EmulatorContext, region: string, ids: string[]) {
  if (!ids.length) return [];
  const { SecurityGroups } = await ctx
    .moto(EC2Client, region)
    .send(new DescribeSecurityGroupsCommand({ GroupIds: ids }));
  return SecurityGroups ?? [];
}

/**
 * Whether a TCP connection from `from` reaches `to` on `port`: same VPC, the target's inbound rules
 * admit the sender's groups or address, and the sender's outbound rules admit the target.
 */
async function reachable(ctx: EmulatorContext, from: HostView, to: HostView, port: number): Promise<boolean> {
  if (to.state !== 'running' || (from.vpcId && to.vpcId && from.vpcId !== to.vpcId)) return false;
  const inbound = await groups(ctx, to.region, to.securityGroupIds);
  const admitted = inbound.some((g) =>
    (g.IpPermissions ?? []).some((rule) => ruleAdmits(rule, port, from.securityGroupIds, from.privateIp)),
  );
  if (!admitted) return false;
  const outbound = await groups(ctx, from.region, from.securityGroupIds);
  return outbound.some((g) =>
    (g.IpPermissionsEgress ?? []).some((rule) => ruleAdmits(rule, port, to.securityGroupIds, to.privateIp)),
  );
}

async function sshConnect(body: unknown, ctx: EmulatorContext) {
  const from = await callingHost(body, ctx);
  const { target, port, user, keyDigests } = body as {
    target: string;
    port: number;
    user: string;
    keyDigests: string[];
  };
  // Hosts are reached by private address inside their VPC; names other than ip-a-b-c-d.* don't resolve.
  const ip = /^ip-(\d+)-(\d+)-(\d+)-(\d+)(\.|$)/.test(target)
    ? target.replace(/^ip-(\d+)-(\d+)-(\d+)-(\d+).*$/, '$1.$2.$3.$4')
    : target;
  if (ipToInt(ip) === undefined) return { result: 'unresolved' };
  const candidates = await listHosts(ctx, from.region, [{ Name: 'private-ip-address', Values: [ip] }]);
  const to = candidates.find((h) => h.privateIp === ip && h.state === 'running');
  if (!to || !(await reachable(ctx, from, to, port))) return { result: 'timeout', ip };
  if (port !== 22) return { result: 'refused', ip };
  const expected = to.keyName ? keyDigest(ctx, to.region, to.keyName) : undefined;
  // AL2023 AMIs put the key pair's public key in ec2-user's authorized_keys and nowhere else.
  const accepted = user === 'ec2-user' && expected !== undefined && keyDigests.includes(expected);
  if (!accepted) return { result: 'publickey', ip };
  return { result: 'ok', ip, targetInstanceId: to.instanceId, targetRegion: to.region };
}

// ---- systemctl and the agent ----

async function systemctl(body: unknown, ctx: EmulatorContext) {
  const host = await callingHost(body, ctx);
  const { action } = body as { action: string };
  const agent = hostAgent(ctx, host);
  if (action === 'start' && !agent.running) setAgentRunning(ctx, host, true);
  if (action === 'stop' && agent.running) setAgentRunning(ctx, host, false);
  if (action === 'restart') setAgentRunning(ctx, host, true);
  const now = hostAgent(ctx, host);
  return { active: now.running, sinceMs: now.changedAt, registration: now.registration ?? null };
}

async function agentRegister(body: unknown, ctx: EmulatorContext) {
  const host = await callingHost(body, ctx);
  const { code, id, registerRegion, yes } = body as {
    code: string;
    id: string;
    registerRegion: string;
    yes: boolean;
  };
  if (hasRegistration(ctx, host) && !yes)
    throw new AwsError('AlreadyRegistered', 'Instance already registered.');
  try {
    const details = consumeActivation(ctx, registerRegion, id, code);
    return { managedInstanceId: addHybridNode(ctx, host, registerRegion, details) };
  } catch (err) {
    if (err instanceof RegistrationRefused) throw new AwsError('RegistrationRefused', err.message);
    throw err;
  }
}

async function agentClear(body: unknown, ctx: EmulatorContext) {
  clearRegistration(ctx, await callingHost(body, ctx));
  return {};
}

export const hostControls: Record<string, ControlHandler> = {
  'host-credentials': hostCredentials,
  'host-ssh-connect': sshConnect,
  'host-systemctl': systemctl,
  'host-agent-register': agentRegister,
  'host-agent-clear': agentClear,
};
