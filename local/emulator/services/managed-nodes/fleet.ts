import { randomBytes } from 'node:crypto';
import { DescribeInstancesCommand, EC2Client, type Filter, type Instance } from '@aws-sdk/client-ec2';
import type { EmulatorContext } from '../../context.js';
import { execOnHost, type HostRunResult } from '../host-exec.js';

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

export interface HostAgent {
  running: boolean;
  /** When the agent last started or stopped (real ms). */
  changedAt: number;
  /** The mi- id in the agent's registration vault, if it has been registered on-prem. */
  registration?: string;
}

export interface HybridNode {
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

export interface FleetState {
  hosts: Map<string, HostAgent>;
  nodes: Map<string, HybridNode>;
  /** When the emulator saw RunInstances return each instance: moto's LaunchTime has whole seconds only. */
  launches: Map<string, number>;
}

export const fleet = (ctx: EmulatorContext): FleetState =>
  ctx.slice('managed-nodes', () => ({ hosts: new Map(), nodes: new Map(), launches: new Map() }));

export const AGENT_VERSION = '3.3.1611.0';
export const MANAGED_INSTANCE_ID = /^mi-[0-9a-f]{17}$/;

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

/** The hybrid node `id` when it registered in `region`. */
export function hybridNode(ctx: EmulatorContext, region: string, id: string): HybridNode | undefined {
  const node = fleet(ctx).nodes.get(id);
  return node && node.region === region ? node : undefined;
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
