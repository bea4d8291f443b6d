import {
  paginateDescribeInstanceInformation,
  type InstanceInformation,
  type InstanceInformationStringFilter,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { isErrorNamed } from './errors.js';

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
