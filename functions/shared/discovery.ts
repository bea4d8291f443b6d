import { paginateDescribeInstances, type EC2Client, type Instance } from '@aws-sdk/client-ec2';
import {
  paginateDescribeActivations,
  paginateDescribeInstanceInformation,
  type Activation,
  type InstanceInformation,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { LAB_HOSTS, labNames } from './names.js';
import { TAG_LAB_ID } from './tags.js';

/**
 * Finding a lab's resources by its tag, so teardown and verification work from the lab id alone:
 * after a crash, in another execution, or when the provisioning state is lost.
 */

/** EC2 instance states that still cost money or still hold a network interface. */
export const LIVE_INSTANCE_STATES = ['pending', 'running', 'stopping', 'stopped', 'shutting-down'] as const;

/** EC2 instance states of a host that is up or coming up: a lab has at most one per role. */
export const ACTIVE_INSTANCE_STATES = ['pending', 'running'] as const;

/** The lab's EC2 instances in the given states (default: every state but terminated). */
export async function findLabInstances(
  ec2: EC2Client,
  labId: string,
  states: readonly string[] = LIVE_INSTANCE_STATES,
): Promise<Instance[]> {
  const found: Instance[] = [];
  const pages = paginateDescribeInstances(
    { client: ec2 },
    {
      Filters: [
        { Name: `tag:${TAG_LAB_ID}`, Values: [labId] },
        { Name: 'instance-state-name', Values: [...states] },
      ],
    },
  );
  for await (const page of pages) {
    for (const reservation of page.Reservations ?? []) found.push(...(reservation.Instances ?? []));
  }
  return found;
}

/**
 * The lab's managed nodes as SSM sees them (EC2 `i-` and hybrid `mi-`). A tag filter cannot be
 * combined with any other filter, so it is the only one.
 */
export async function findLabManagedNodes(ssm: SSMClient, labId: string): Promise<InstanceInformation[]> {
  const found: InstanceInformation[] = [];
  const pages = paginateDescribeInstanceInformation(
    { client: ssm, pageSize: 50 },
    { Filters: [{ Key: `tag:${TAG_LAB_ID}`, Values: [labId] }] },
  );
  for await (const page of pages) found.push(...(page.InstanceInformationList ?? []));
  return found;
}

/**
 * The lab's hybrid activations. DescribeActivations cannot filter by tag, but it can by
 * DefaultInstanceName, and a lab's activations are named after its on-prem hosts
 * (create-activations): the Region's other activations are never listed. Listing them all made a
 * class's teardowns page through every lab's activations while the others deleted theirs, and a
 * listing that pages while items are deleted can skip some: the likely cause (not proven) of the 16
 * resources a 50-lab bench run left after teardown. The tag still decides what is the lab's.
 */
export async function findLabActivations(ssm: SSMClient, labId: string): Promise<Activation[]> {
  const names = labNames(labId);
  const hostNames = LAB_HOSTS.filter((host) => host.kind === 'onprem').map((host) => names.host(host.role));
  const found: Activation[] = [];
  const pages = paginateDescribeActivations(
    { client: ssm, pageSize: 50 },
    { Filters: [{ FilterKey: 'DefaultInstanceName', FilterValues: hostNames }] },
  );
  for await (const page of pages) {
    for (const activation of page.ActivationList ?? []) {
      if (activation.Tags?.some((tag) => tag.Key === TAG_LAB_ID && tag.Value === labId)) {
        found.push(activation);
      }
    }
  }
  return found;
}
