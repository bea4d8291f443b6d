import {
  paginateDescribeInstanceInformation,
  type InstanceInformation,
  type InstanceInformationStringFilter,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { findLabManagedNodes } from './discovery.js';
import { isErrorNamed } from './errors.js';
import { labNames, type HostRole } from './names.js';

/**
 * Managed nodes matching one DescribeInstanceInformation filter (`InstanceIds`, `ActivationIds`),
 * every page. Ids Systems Manager has never seen make it answer InvalidInstanceId: for a poll that
 * is "none registered yet", so the result is empty.
 */
export async function describeNodes(
  ssm: SSMClient,
  filter: InstanceInformationStringFilter,
): Promise<InstanceInformation[]> {
  const nodes: InstanceInformation[] = [];
  if (!filter.Values?.length) return nodes;
  try {
    const pages = paginateDescribeInstanceInformation({ client: ssm, pageSize: 50 }, { Filters: [filter] });
    for await (const page of pages) nodes.push(...(page.InstanceInformationList ?? []));
  } catch (err) {
    if (!isErrorNamed(err, 'InvalidInstanceId')) throw err;
  }
  return nodes;
}

/** The ids among `instanceIds` whose agent is Online. */
export async function onlineInstances(ssm: SSMClient, instanceIds: string[]): Promise<Set<string>> {
  const nodes = await describeNodes(ssm, { Key: 'InstanceIds', Values: instanceIds });
  return new Set(nodes.filter((node) => node.PingStatus === 'Online').map((node) => node.InstanceId!));
}

/** An on-premises lab host as the node matching needs it: its role and its address. */
export interface OnPremHost {
  role: HostRole;
  privateIpAddress: string;
}

/**
 * True when `node` is the hybrid node of the lab host `host`: an `mi-` node named after the host
 * (the node's `Name` is the DefaultInstanceName of the activation it registered with,
 * `labNames(labId).host(role)`) that reports an address, and that address is the host's private
 * address. Name and tags alone never make a node the lab's: anyone holding an activation code can
 * register a machine of their own under that activation's name and tags, but not on the lab host's
 * address; and a replaced host's older node (same name, another address) is not taken for the new
 * one. A node that does not report an address yet is not the host's (yet): a poll keeps waiting.
 */
export function isNodeOfHost(node: InstanceInformation, labId: string, host: OnPremHost): boolean {
  return (
    node.ResourceType === 'ManagedInstance' &&
    node.Name === labNames(labId).host(host.role) &&
    node.IPAddress !== undefined &&
    node.IPAddress === host.privateIpAddress
  );
}

/**
 * The node to take among one host's nodes (a host registered again leaves its older node behind,
 * ConnectionLost): an Online one first, then the newest registration, then the id (stable).
 */
export function preferredNode(nodes: InstanceInformation[]): InstanceInformation | undefined {
  const online = (node: InstanceInformation) => (node.PingStatus === 'Online' ? 1 : 0);
  return [...nodes].sort(
    (a, b) =>
      online(b) - online(a) ||
      (b.RegistrationDate?.getTime() ?? 0) - (a.RegistrationDate?.getTime() ?? 0) ||
      (a.InstanceId ?? '').localeCompare(b.InstanceId ?? ''),
  )[0];
}

/**
 * The on-premises hosts among `hosts` that already have an Online hybrid node of the lab (found by
 * the lab tag its activation copied onto it, matched by name and address): role -> node. Such a
 * host needs no registration, whatever run registered it.
 */
export async function onlineHostNodes(
  ssm: SSMClient,
  labId: string,
  hosts: readonly OnPremHost[],
): Promise<Map<HostRole, InstanceInformation>> {
  const found = new Map<HostRole, InstanceInformation>();
  if (hosts.length === 0) return found;
  const nodes = (await findLabManagedNodes(ssm, labId)).filter((node) => node.PingStatus === 'Online');
  for (const host of hosts) {
    const node = preferredNode(nodes.filter((candidate) => isNodeOfHost(candidate, labId, host)));
    if (node) found.set(host.role, node);
  }
  return found;
}
