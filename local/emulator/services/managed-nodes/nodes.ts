import type { Filter } from '@aws-sdk/client-ec2';
import type { EmulatorContext } from '../../context.js';
import { agentMayReport, dhmcSession, hybridSession, instanceProfileSession } from '../node-credentials.js';
import type { RoleSession } from '../role-sessions.js';
import { dhmcRoleName } from '../service-settings.js';
import {
  fleet,
  findHost,
  hostAgent,
  hybridNode,
  listHosts,
  type HostView,
  type HybridNode,
  type NodeInfo,
  type NodeRecord,
} from './fleet.js';

/**
 * The managed nodes of the fleet (fleet.ts) as Systems Manager sees them: which hosts are nodes,
 * under which identity, and whether each is Online, from its agent and its role's permission to
 * report (node-credentials.ts).
 */

export interface NodeFilter {
  key: string;
  values: string[];
}

async function hybridRecord(
  ctx: EmulatorContext,
  node: HybridNode,
  host: HostView | undefined,
): Promise<NodeRecord> {
  const agent = host ? hostAgent(ctx, host) : undefined;
  const running =
    host?.state === 'running' &&
    agent?.running === true &&
    agent.registration === node.id &&
    agent.changedAt >= node.registeredAt &&
    ctx.clock.hasElapsed(agent.changedAt, ctx.clock.profile.agentOnlineSeconds);
  // The agent reports with the credentials Systems Manager issues the node (its activation's role).
  let online = false;
  if (running) {
    const session = await hybridSession(ctx, node);
    online = session !== undefined && (await agentMayReport(ctx, session, node.region, node.id, node.tags));
  }
  const lastPingMs = online ? Date.now() : Math.max(node.registeredAt, agent?.changedAt ?? 0);
  return {
    nodeId: node.id,
    resourceType: 'ManagedInstance',
    pingStatus: online ? 'Online' : 'ConnectionLost',
    hostInstanceId: node.hostInstanceId,
    name: node.name,
    tags: { ...node.tags },
    ipAddress: host?.privateIp,
    computerName: host?.privateDnsName,
    iamRole: node.iamRole,
    activationId: node.activationId,
    registrationDate: node.registeredAt,
    lastPingMs,
  };
}

/**
 * The EC2 identity of a host's agent: the instance profile role's session when that role may
 * report as the instance (it takes precedence), else the DHMC role's session when DHMC is on, the
 * instance requires IMDSv2 and that role may report. Undefined: the instance is no managed node.
 */
export async function ec2Identity(
  ctx: EmulatorContext,
  host: HostView,
): Promise<{ session: RoleSession; via: 'instance-profile' | 'dhmc' } | undefined> {
  const mayReport = (session: RoleSession | undefined): Promise<boolean> =>
    session ? agentMayReport(ctx, session, host.region, host.instanceId, host.tags) : Promise.resolve(false);
  const profile = await instanceProfileSession(ctx, host);
  if (profile && (await mayReport(profile))) return { session: profile, via: 'instance-profile' };
  const dhmcRole = dhmcRoleName(ctx, host.region);
  if (!dhmcRole || host.httpTokens !== 'required') return undefined;
  const dhmc = await dhmcSession(ctx, host, dhmcRole);
  return dhmc && (await mayReport(dhmc)) ? { session: dhmc, via: 'dhmc' } : undefined;
}

/**
 * An EC2 node exists once the instance runs, has booted and its agent has an EC2 identity (above);
 * stopped or terminated instances are not nodes at all.
 */
async function ec2Record(ctx: EmulatorContext, host: HostView): Promise<NodeRecord | undefined> {
  if (host.state !== 'running') return undefined;
  if (!ctx.clock.hasElapsed(host.launchMs, ctx.clock.profile.ec2BootSeconds)) return undefined;
  // Without a profile only DHMC can make the instance a node: skip the reads when it is off.
  if (!host.instanceProfileArn && !dhmcRoleName(ctx, host.region)) return undefined;
  const identity = await ec2Identity(ctx, host);
  if (!identity) return undefined;
  const agent = hostAgent(ctx, host);
  // Once registered on-prem the agent speaks as the mi- node, so the EC2 identity goes quiet.
  const online = agent.running && agent.registration === undefined;
  return {
    nodeId: host.instanceId,
    resourceType: 'EC2Instance',
    pingStatus: online ? 'Online' : 'ConnectionLost',
    hostInstanceId: host.instanceId,
    name: host.tags.Name,
    tags: host.tags,
    ipAddress: host.privateIp,
    computerName: host.privateDnsName,
    iamRole: identity.session.roleName,
    lastPingMs: online ? Date.now() : agent.changedAt,
  };
}

/**
 * The DescribeInstances filters that find every host whose EC2 node can match `filters`
 * (undefined: all hosts; null: no EC2 node can match). A superset is enough: the records are
 * matched against `filters` afterwards.
 */
function ec2HostFilters(filters: NodeFilter[]): Filter[] | null | undefined {
  const pushed: Filter[] = [];
  for (const { key, values } of filters) {
    if (key === 'ActivationIds') return null;
    if (key === 'ResourceType' && !values.includes('EC2Instance')) return null;
    if (key === 'InstanceIds' || key === 'SourceIds') {
      const ids = values.filter((v) => v.startsWith('i-'));
      if (!ids.length) return null;
      pushed.push({ Name: 'instance-id', Values: ids });
    }
    if (key === 'tag-key' || key.startsWith('tag:')) pushed.push({ Name: key, Values: values });
  }
  return pushed.length ? pushed : undefined;
}

/** Whether a hybrid node can match `filters`, from what the node record holds without its host. */
function hybridMayMatch(node: HybridNode, filters: NodeFilter[]): boolean {
  return filters.every(({ key, values }) => {
    if (key === 'InstanceIds' || key === 'SourceIds') return values.includes(node.id);
    if (key === 'ActivationIds') return values.includes(node.activationId);
    if (key === 'ResourceType') return values.includes('ManagedInstance');
    if (key === 'tag-key') return values.some((k) => k in node.tags);
    if (key.startsWith('tag:')) {
      const tag = key.slice('tag:'.length);
      return tag in node.tags && values.includes(node.tags[tag]!);
    }
    return true;
  });
}

/**
 * The managed nodes of the region, EC2 and hybrid, sorted by id (stable pages): every one, or a
 * superset of those matching `filters` that reads only the hosts they can be about.
 */
export async function listNodes(
  ctx: EmulatorContext,
  region: string,
  filters: NodeFilter[] = [],
): Promise<NodeRecord[]> {
  const hostFilters = ec2HostFilters(filters);
  const hosts = hostFilters === null ? [] : await listHosts(ctx, region, hostFilters);
  const byId = new Map(hosts.map((h) => [h.instanceId, h]));
  const records: NodeRecord[] = [];
  for (const host of hosts) {
    const record = await ec2Record(ctx, host);
    if (record) records.push(record);
  }
  const hybrid = [...fleet(ctx).nodes.values()].filter(
    (node) => node.region === region && hybridMayMatch(node, filters),
  );
  // The hosts of those hybrid nodes the EC2 read did not bring, in one more read.
  const missing = [...new Set(hybrid.map((n) => n.hostInstanceId))].filter((id) => !byId.has(id));
  if (missing.length && hostFilters !== undefined) {
    for (const host of await listHosts(ctx, region, [{ Name: 'instance-id', Values: missing }]))
      byId.set(host.instanceId, host);
  }
  for (const node of hybrid) {
    const host =
      node.hostRegion === region
        ? byId.get(node.hostInstanceId)
        : await findHost(ctx, node.hostRegion, node.hostInstanceId);
    records.push(await hybridRecord(ctx, node, host));
  }
  return records.sort((a, b) => a.nodeId.localeCompare(b.nodeId));
}

function toInfo(record: NodeRecord): NodeInfo {
  const { nodeId, resourceType, pingStatus, hostInstanceId, name, tags } = record;
  return { nodeId, resourceType, pingStatus, hostInstanceId, ...(name !== undefined ? { name } : {}), tags };
}

async function findRecord(
  ctx: EmulatorContext,
  region: string,
  nodeId: string,
): Promise<NodeRecord | undefined> {
  if (nodeId.startsWith('mi-')) {
    const node = hybridNode(ctx, region, nodeId);
    if (!node) return undefined;
    const host = await findHost(ctx, node.hostRegion, node.hostInstanceId);
    return hybridRecord(ctx, node, host);
  }
  const host = await findHost(ctx, region, nodeId);
  return host ? ec2Record(ctx, host) : undefined;
}

/**
 * The credentials the agent of node `nodeId` (i- or mi-) works with (session logging, ...):
 * undefined when it is not a managed node of `region` or has no such credentials now.
 */
export async function nodeSession(
  ctx: EmulatorContext,
  region: string,
  nodeId: string,
): Promise<RoleSession | undefined> {
  if (nodeId.startsWith('mi-')) {
    const node = hybridNode(ctx, region, nodeId);
    return node ? hybridSession(ctx, node) : undefined;
  }
  const host = await findHost(ctx, region, nodeId);
  return host ? (await ec2Identity(ctx, host))?.session : undefined;
}

/** The managed node `nodeId` (i- or mi-) in `region`, or undefined when it is not a managed node. */
export async function findNode(
  ctx: EmulatorContext,
  region: string,
  nodeId: string,
): Promise<NodeInfo | undefined> {
  const record = await findRecord(ctx, region, nodeId);
  return record && toInfo(record);
}
