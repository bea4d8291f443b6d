import { randomBytes } from 'node:crypto';
import { DescribeInstancesCommand, EC2Client, type Filter, type Instance } from '@aws-sdk/client-ec2';
import type { EmulatorContext, OperationHandler } from '../context.js';
import { AwsError, type AwsCall } from '../protocol.js';
import { execOnHost, type HostRunResult } from './host-exec.js';
import { agentMayReport, dhmcSession, hybridSession, instanceProfileSession } from './node-credentials.js';
import type { RoleSession } from './role-sessions.js';
import { dhmcRoleName } from './service-settings.js';

/**
 * The simulated fleet. Hosts are the EC2 instances moto holds; each runs an SSM agent (AL2023 ships
 * it preinstalled and running). The agent takes the first identity that applies, in the real
 * agent's default order OnPrem, then EC2:
 * - OnPrem: a host registered with a hybrid activation reports as an `mi-` node, Online while its
 *   agent runs with that registration and the activation's role (SSMServiceRole, assumed by
 *   Systems Manager for the node) may call ssm:UpdateInstanceInformation on it. Its EC2 identity
 *   goes quiet: an `i-` record it had stays, ConnectionLost.
 * - EC2: once the instance has booted, through its instance profile (the role's session for
 *   ec2.amazonaws.com) when that role may call ssm:UpdateInstanceInformation; otherwise through
 *   Default Host Management Configuration when the account's setting names a role
 *   (service-settings.ts) and the instance requires IMDSv2 (HttpTokens required, as the product
 *   launches every host): the DHMC role's session for ssm.amazonaws.com. So with DHMC on, the lab's
 *   "on-premises" hosts (EC2 instances without a profile) are `i-` managed nodes too until they
 *   register, and their `i-` records linger ConnectionLost afterwards. AWS's up-to-30-minute
 *   onboarding delay after DHMC is turned on is not modelled (the node appears with the boot).
 * Every one of these checks is the node's own role session authorized with the full evaluator
 * (node-credentials.ts), conditions and tags included.
 */

export interface NodeInfo {
  nodeId: string;
  resourceType: 'EC2Instance' | 'ManagedInstance';
  pingStatus: 'Online' | 'ConnectionLost';
  hostInstanceId: string;
  name?: string;
  /** EC2 tags for i- nodes, SSM tags for mi- nodes. */
  tags: Record<string, string>;
}

/** Everything DescribeInstanceInformation shows about a node. */
export interface NodeRecord extends NodeInfo {
  ipAddress?: string;
  computerName?: string;
  iamRole?: string;
  activationId?: string;
  registrationDate?: number;
  lastPingMs: number;
}

/** An EC2 instance as the fleet sees it. */
export interface HostView {
  instanceId: string;
  region: string;
  state: string;
  privateIp?: string;
  privateDnsName?: string;
  launchMs: number;
  instanceProfileArn?: string;
  securityGroupIds: string[];
  keyName?: string;
  vpcId?: string;
  /** IMDS's HttpTokens: `required` is IMDSv2 only (DHMC needs it). */
  httpTokens?: string;
  tags: Record<string, string>;
}

interface HostAgent {
  running: boolean;
  /** When the agent last started or stopped (real ms). */
  changedAt: number;
  /** The mi- id in the agent's registration vault, if it has been registered on-prem. */
  registration?: string;
}

interface HybridNode {
  id: string;
  /** Where it registered (the agent's -region); the host may live in another region. */
  region: string;
  hostRegion: string;
  activationId: string;
  hostInstanceId: string;
  name?: string;
  iamRole: string;
  tags: Record<string, string>;
  registeredAt: number;
}

interface FleetState {
  hosts: Map<string, HostAgent>;
  nodes: Map<string, HybridNode>;
  /** When the emulator saw RunInstances return each instance: moto's LaunchTime has whole seconds only. */
  launches: Map<string, number>;
}

const fleet = (ctx: EmulatorContext): FleetState =>
  ctx.slice('managed-nodes', () => ({ hosts: new Map(), nodes: new Map(), launches: new Map() }));

export const AGENT_VERSION = '3.3.1611.0';
const MANAGED_INSTANCE_ID = /^mi-[0-9a-f]{17}$/;

export function recordLaunch(ctx: EmulatorContext, instanceId: string, atMs = Date.now()): void {
  fleet(ctx).launches.set(instanceId, atMs);
}

function tagMap(tags: { Key?: string; Value?: string }[] | undefined): Record<string, string> {
  return Object.fromEntries(
    (tags ?? []).filter((t) => t.Key !== undefined).map((t) => [t.Key!, t.Value ?? '']),
  );
}

function toHost(ctx: EmulatorContext, region: string, instance: Instance): HostView {
  const instanceId = instance.InstanceId!;
  return {
    instanceId,
    region,
    state: instance.State?.Name ?? 'pending',
    privateIp: instance.PrivateIpAddress,
    privateDnsName: instance.PrivateDnsName,
    launchMs: fleet(ctx).launches.get(instanceId) ?? instance.LaunchTime?.getTime() ?? 0,
    instanceProfileArn: instance.IamInstanceProfile?.Arn,
    securityGroupIds: (instance.SecurityGroups ?? []).map((g) => g.GroupId!).filter(Boolean),
    keyName: instance.KeyName,
    vpcId: instance.VpcId,
    httpTokens: instance.MetadataOptions?.HttpTokens,
    tags: tagMap(instance.Tags),
  };
}

/**
 * Every instance moto holds in the region, whatever its state, or those matching `filters`
 * (DescribeInstances filters: asking moto for the few hosts a call is about keeps a call's cost
 * from growing with every lab in the account).
 */
export async function listHosts(
  ctx: EmulatorContext,
  region: string,
  filters?: Filter[],
): Promise<HostView[]> {
  const ec2 = ctx.moto(EC2Client, region);
  const hosts: HostView[] = [];
  let NextToken: string | undefined;
  do {
    const page = await ec2.send(
      new DescribeInstancesCommand({ NextToken, ...(filters ? { Filters: filters } : {}) }),
    );
    for (const reservation of page.Reservations ?? []) {
      for (const instance of reservation.Instances ?? []) hosts.push(toHost(ctx, region, instance));
    }
    NextToken = page.NextToken;
  } while (NextToken);
  return hosts;
}

export async function findHost(
  ctx: EmulatorContext,
  region: string,
  instanceId: string,
): Promise<HostView | undefined> {
  if (!/^i-[0-9a-f]+$/.test(instanceId)) return undefined;
  try {
    const page = await ctx
      .moto(EC2Client, region)
      .send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    const instance = page.Reservations?.[0]?.Instances?.[0];
    return instance ? toHost(ctx, region, instance) : undefined;
  } catch (err) {
    if ((err as Error).name.startsWith('InvalidInstanceID')) return undefined;
    throw err;
  }
}

/** The agent of a host; AL2023 boots with it enabled and running. */
export function hostAgent(ctx: EmulatorContext, host: Pick<HostView, 'instanceId' | 'launchMs'>): HostAgent {
  const hosts = fleet(ctx).hosts;
  let agent = hosts.get(host.instanceId);
  if (!agent) {
    agent = { running: true, changedAt: host.launchMs };
    hosts.set(host.instanceId, agent);
  }
  return agent;
}

/** `systemctl start|stop` of amazon-ssm-agent on a host. */
export function setAgentRunning(
  ctx: EmulatorContext,
  host: Pick<HostView, 'instanceId' | 'launchMs'>,
  running: boolean,
): void {
  const agent = hostAgent(ctx, host);
  agent.running = running;
  agent.changedAt = Date.now();
}

/** A new `mi-` node registered from a host; the host's agent vault now holds it. */
export function addHybridNode(
  ctx: EmulatorContext,
  host: Pick<HostView, 'instanceId' | 'launchMs' | 'region'>,
  region: string,
  details: { activationId: string; name?: string; iamRole: string; tags: Record<string, string> },
): string {
  const { nodes } = fleet(ctx);
  let id: string;
  do id = `mi-${randomBytes(9).toString('hex').slice(0, 17)}`;
  while (nodes.has(id));
  nodes.set(id, {
    id,
    region,
    hostRegion: host.region,
    hostInstanceId: host.instanceId,
    registeredAt: Date.now(),
    ...details,
    tags: { ...details.tags },
  });
  hostAgent(ctx, host).registration = id;
  return id;
}

/** The `-clear` flag: the agent's vault forgets its registration (the node record stays). */
export function clearRegistration(
  ctx: EmulatorContext,
  host: Pick<HostView, 'instanceId' | 'launchMs'>,
): void {
  delete hostAgent(ctx, host).registration;
}

export function hasRegistration(
  ctx: EmulatorContext,
  host: Pick<HostView, 'instanceId' | 'launchMs'>,
): boolean {
  return hostAgent(ctx, host).registration !== undefined;
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
    const node = fleet(ctx).nodes.get(nodeId);
    if (!node || node.region !== region) return undefined;
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
    const node = fleet(ctx).nodes.get(nodeId);
    return node && node.region === region ? hybridSession(ctx, node) : undefined;
  }
  const host = await findHost(ctx, region, nodeId);
  return host ? (await ec2Identity(ctx, host))?.session : undefined;
}

/**
 * The hybrid node a host's agent is registered as, when its vault holds a registration Systems
 * Manager still knows: the agent shares that node's credentials with root (below).
 */
export function hostRegistration(
  ctx: EmulatorContext,
  host: Pick<HostView, 'instanceId' | 'launchMs'>,
): { id: string; region: string; iamRole: string } | undefined {
  const id = hostAgent(ctx, host).registration;
  const node = id ? fleet(ctx).nodes.get(id) : undefined;
  return node && { id: node.id, region: node.region, iamRole: node.iamRole };
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

/**
 * Runs `script` with bash as the host `hostInstanceId` (an EC2 instance id), the same executor Run
 * Command uses. `osUser` is what `whoami` prints (default root); `timeoutMs` kills the script.
 */
export async function runOnHost(
  ctx: EmulatorContext,
  region: string,
  hostInstanceId: string,
  script: string,
  options: { osUser?: string; timeoutMs?: number } = {},
): Promise<HostRunResult> {
  return execOnHost({
    emulatorUrl: ctx.url,
    region,
    hostInstanceId,
    script,
    osUser: options.osUser ?? 'root',
    timeoutMs: options.timeoutMs,
  });
}

// ---- DescribeInstanceInformation, DeregisterManagedInstance and ManagedInstance tags ----

const FILTER_KEYS = [
  'ActivationIds',
  'AgentVersion',
  'AssociationStatus',
  'IamRole',
  'InstanceIds',
  'PingStatus',
  'PlatformTypes',
  'ResourceType',
  'SourceIds',
  'SourceTypes',
];
const LEGACY_KEYS = [
  'InstanceIds',
  'AgentVersion',
  'PingStatus',
  'PlatformTypes',
  'ActivationIds',
  'IamRole',
  'ResourceType',
  'AssociationStatus',
];
const ENUMS: Record<string, string[]> = {
  PingStatus: ['Online', 'ConnectionLost', 'Inactive'],
  ResourceType: ['EC2Instance', 'ManagedInstance'],
  PlatformTypes: ['Windows', 'Linux', 'MacOS'],
  SourceTypes: ['AWS::EC2::Instance', 'AWS::SSM::ManagedInstance', 'AWS::IoT::Thing'],
};

/** The SDK's validation message for an out-of-range number (smithy constraint). */
export function rangeError(field: string, value: number, min: number, max: number): AwsError {
  const bound = value < min ? `greater than or equal to ${min}` : `less than or equal to ${max}`;
  return new AwsError(
    'ValidationException',
    `1 validation error detected: Value '${value}' at '${field}' failed to satisfy constraint: Member must have value ${bound}`,
  );
}

/** Opaque page tokens: the offset plus the operation they belong to, so a foreign token is refused. */
export function encodeToken(scope: string, offset: number): string {
  return Buffer.from(JSON.stringify({ scope, offset })).toString('base64');
}

export function decodeToken(scope: string, token: unknown): number {
  if (token === undefined || token === null || token === '') return 0;
  try {
    const parsed = JSON.parse(Buffer.from(String(token), 'base64').toString('utf8')) as {
      scope?: string;
      offset?: number;
    };
    if (parsed.scope === scope && Number.isInteger(parsed.offset) && parsed.offset! >= 0)
      return parsed.offset!;
  } catch {
    // Falls through to the error below.
  }
  throw new AwsError('InvalidNextToken', 'The specified token is not valid.');
}

export interface NodeFilter {
  key: string;
  values: string[];
}

function readFilters(input: Record<string, unknown>): NodeFilter[] {
  const modern = input.Filters as { Key?: string; Values?: string[] }[] | undefined;
  const legacy = input.InstanceInformationFilterList as { key?: string; valueSet?: string[] }[] | undefined;
  if (modern?.length && legacy?.length) {
    throw new AwsError(
      'InvalidInstanceInformationFilterValue',
      'Filters and InstanceInformationFilterList cannot be used together.',
    );
  }
  const filters: NodeFilter[] = [];
  for (const f of modern ?? []) {
    const key = String(f.Key ?? '');
    const known = FILTER_KEYS.includes(key) || key === 'tag-key' || /^tag:.+/.test(key);
    if (!known) throw new AwsError('InvalidFilterKey', `The filter key ${key} is not valid.`);
    filters.push({ key, values: f.Values ?? [] });
  }
  for (const f of legacy ?? []) {
    const key = String(f.key ?? '');
    if (!LEGACY_KEYS.includes(key))
      throw new AwsError('InvalidFilterKey', `The filter key ${key} is not valid.`);
    filters.push({ key, values: f.valueSet ?? [] });
  }
  const tagFilters = filters.filter((f) => f.key === 'tag-key' || f.key.startsWith('tag:'));
  if (tagFilters.length && tagFilters.length !== filters.length) {
    throw new AwsError('InvalidFilterKey', 'Tag filters cannot be combined with other filter keys.');
  }
  for (const f of filters) {
    if (f.values.length < 1 || f.values.length > 100) {
      throw new AwsError(
        'InvalidInstanceInformationFilterValue',
        `The filter ${f.key} needs between 1 and 100 values.`,
      );
    }
    const allowed = ENUMS[f.key];
    const bad = allowed && f.values.find((v) => !allowed.includes(v));
    if (bad) {
      throw new AwsError(
        'InvalidInstanceInformationFilterValue',
        `The filter value ${bad} is not valid for ${f.key}.`,
      );
    }
    if (f.key === 'InstanceIds') {
      const badId = f.values.find((v) => !/^(i-[0-9a-f]{8,17}|mi-[0-9a-f]{17})$/.test(v));
      if (badId) throw new AwsError('InvalidInstanceId', `Instance Id ${badId} is not valid.`);
    }
  }
  return filters;
}

function matches(record: NodeRecord, filter: NodeFilter): boolean {
  const v = filter.values;
  switch (filter.key) {
    case 'InstanceIds':
      return v.includes(record.nodeId);
    case 'ActivationIds':
      return record.activationId !== undefined && v.includes(record.activationId);
    case 'PingStatus':
      return v.includes(record.pingStatus);
    case 'ResourceType':
      return v.includes(record.resourceType);
    case 'AgentVersion':
      return v.includes(AGENT_VERSION);
    case 'PlatformTypes':
      return v.includes('Linux');
    case 'IamRole':
      return record.iamRole !== undefined && v.includes(record.iamRole);
    case 'SourceIds':
      return v.includes(record.nodeId);
    case 'SourceTypes':
      return v.includes(
        record.resourceType === 'EC2Instance' ? 'AWS::EC2::Instance' : 'AWS::SSM::ManagedInstance',
      );
    case 'AssociationStatus':
      // No associations run in the emulator, so no node has an association status to match.
      return false;
    case 'tag-key':
      return v.some((key) => key in record.tags);
    default: {
      const key = filter.key.slice('tag:'.length);
      return key in record.tags && v.includes(record.tags[key]!);
    }
  }
}

function describeItem(record: NodeRecord) {
  const seconds = (ms: number) => ms / 1000;
  const hybrid = record.resourceType === 'ManagedInstance';
  return {
    InstanceId: record.nodeId,
    PingStatus: record.pingStatus,
    LastPingDateTime: seconds(record.lastPingMs),
    AgentVersion: AGENT_VERSION,
    IsLatestVersion: true,
    PlatformType: 'Linux',
    PlatformName: 'Amazon Linux',
    PlatformVersion: '2023',
    ResourceType: record.resourceType,
    ...(record.iamRole !== undefined ? { IamRole: record.iamRole } : {}),
    ...(hybrid
      ? {
          ActivationId: record.activationId,
          RegistrationDate: seconds(record.registrationDate ?? record.lastPingMs),
          ...(record.name !== undefined ? { Name: record.name } : {}),
        }
      : {}),
    ...(record.ipAddress !== undefined ? { IPAddress: record.ipAddress } : {}),
    ...(record.computerName !== undefined ? { ComputerName: record.computerName } : {}),
    SourceId: record.nodeId,
    SourceType: hybrid ? 'AWS::SSM::ManagedInstance' : 'AWS::EC2::Instance',
    AssociationOverview: { InstanceAssociationStatusAggregatedCount: {} },
  };
}

function managedInstanceId(call: AwsCall, field: string): string {
  const id = String(call.input[field] ?? '');
  if (!MANAGED_INSTANCE_ID.test(id)) {
    throw new AwsError(
      'ValidationException',
      `1 validation error detected: Value '${id}' at '${field.charAt(0).toLowerCase()}${field.slice(1)}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^mi-[0-9a-f]{17}$`,
    );
  }
  return id;
}

function hybridNode(ctx: EmulatorContext, region: string, id: string): HybridNode | undefined {
  const node = fleet(ctx).nodes.get(id);
  return node && node.region === region ? node : undefined;
}

/** Tag calls for ManagedInstance resources; the rest (documents, parameters, ...) are moto's. */
function taggedNode(call: AwsCall, ctx: EmulatorContext): HybridNode {
  const id = String(call.input.ResourceId ?? '');
  const node = MANAGED_INSTANCE_ID.test(id) ? hybridNode(ctx, call.region, id) : undefined;
  if (!node)
    throw new AwsError('InvalidResourceId', 'The resource ID is not valid. Verify the ID and try again.');
  return node;
}

const MAX_TAGS = 50;

export const managedNodes: Record<string, OperationHandler> = {
  async DescribeInstanceInformation(call, ctx) {
    const filters = readFilters(call.input);
    const maxResults = call.input.MaxResults === undefined ? 10 : Number(call.input.MaxResults);
    if (maxResults < 5 || maxResults > 50) throw rangeError('maxResults', maxResults, 5, 50);
    const offset = decodeToken('DescribeInstanceInformation', call.input.NextToken);
    const all = (await listNodes(ctx, call.region, filters)).filter((r) =>
      filters.every((f) => matches(r, f)),
    );
    const page = all.slice(offset, offset + maxResults);
    const next =
      offset + maxResults < all.length
        ? encodeToken('DescribeInstanceInformation', offset + maxResults)
        : undefined;
    return {
      InstanceInformationList: page.map(describeItem),
      ...(next ? { NextToken: next } : {}),
    };
  },

  async DeregisterManagedInstance(call, ctx) {
    const id = managedInstanceId(call, 'InstanceId');
    if (!hybridNode(ctx, call.region, id)) {
      throw new AwsError(
        'InvalidInstanceId',
        `Instance Id ${id} is not valid or the instance is not registered.`,
      );
    }
    // The host's agent keeps its vault: it would need -y (or -clear) to register again.
    fleet(ctx).nodes.delete(id);
    return {};
  },

  async AddTagsToResource(call, ctx) {
    if (call.input.ResourceType !== 'ManagedInstance') return ctx.forward(call);
    const node = taggedNode(call, ctx);
    const tags = (call.input.Tags ?? []) as { Key: string; Value: string }[];
    const next = { ...node.tags, ...Object.fromEntries(tags.map((t) => [t.Key, t.Value])) };
    if (Object.keys(next).length > MAX_TAGS) {
      throw new AwsError(
        'TooManyTagsError',
        `The resource ${node.id} cannot have more than ${MAX_TAGS} tags.`,
      );
    }
    node.tags = next;
    return {};
  },

  async RemoveTagsFromResource(call, ctx) {
    if (call.input.ResourceType !== 'ManagedInstance') return ctx.forward(call);
    const node = taggedNode(call, ctx);
    for (const key of (call.input.TagKeys ?? []) as string[]) delete node.tags[key];
    return {};
  },

  async ListTagsForResource(call, ctx) {
    if (call.input.ResourceType !== 'ManagedInstance') return ctx.forward(call);
    const node = taggedNode(call, ctx);
    return { TagList: Object.entries(node.tags).map(([Key, Value]) => ({ Key, Value })) };
  },
};
