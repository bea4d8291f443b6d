import { createHash } from 'node:crypto';
import {
  RunInstancesCommand,
  TerminateInstancesCommand,
  type Instance,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { ensureBootstrapProfile } from '../shared/bootstrap-role.js';
import type { LabClients } from '../shared/clients.js';
import { ensureDevHostProfile } from '../shared/dev-host-roles.js';
import { ACTIVE_INSTANCE_STATES, findLabInstances } from '../shared/discovery.js';
import { IamNotPropagatedYet, LabStepFailed, NotReadyYet, isErrorNamed } from '../shared/errors.js';
import { labConfigSchema, type LabConfig } from '../shared/lab-config.js';
import { networkSchema, type LabInstance, type LabNetwork } from '../shared/lab-state.js';
import { logger } from '../shared/logger.js';
import { LAB_HOSTS, SHARED_NAMES, labNames, type HostRole, type HostSpec } from '../shared/names.js';
import { TAG_RUN_ID, labTags, toTagRecord } from '../shared/tags.js';

export const inputSchema = z
  .object({
    lab: labConfigSchema,
    instanceProfileName: z.string().regex(/^[\w+=,.@-]{1,128}$/, 'must be an instance profile name'),
    keyName: z.string().min(1).max(255),
    network: networkSchema,
  })
  .strict();
export type LaunchInstancesInput = {
  lab: LabConfig;
  instanceProfileName: string;
  keyName: string;
  network: LabNetwork;
};

export interface LaunchInstancesOutput {
  amiId: string;
  instances: LabInstance[];
}

/**
 * Instance states in which a host is still the lab's: up or coming up (reused), or stopped by
 * someone (refused, see launchInstances). Shutting-down and terminated hosts are gone.
 */
const KEPT_STATES = [...ACTIVE_INSTANCE_STATES, 'stopping', 'stopped'];

/**
 * The RunInstances ClientToken of one host in one provisioning run: the same for a retry of the
 * run, so a lost response never launches twice; new for every run (a reset, or a run again whose
 * bootstrap host was terminated), so EC2 does not hand back the terminated instance of an earlier
 * run. Hashed to stay within
 * 64 ASCII characters whatever the execution name holds.
 */
export function clientToken(lab: Pick<LabConfig, 'labId' | 'runId'>, role: HostRole): string {
  const digest = createHash('sha256').update(`${lab.labId}\n${lab.runId}\n${role}`).digest('base64url');
  return `${role}-${digest.slice(0, 40)}`;
}

/**
 * The lab's hosts that are up, coming up or stopped, whatever run launched them, keyed by their
 * Name tag: a lab has one host per role, so a new provisioning run of an existing lab reuses them.
 */
async function existingInstances(
  clients: Pick<LabClients, 'ec2'>,
  lab: LabConfig,
): Promise<Map<string, Instance[]>> {
  const byName = new Map<string, Instance[]>();
  for (const instance of await findLabInstances(clients.ec2, lab.labId, KEPT_STATES)) {
    const name = toTagRecord(instance.Tags).Name ?? '';
    byName.set(name, [...(byName.get(name) ?? []), instance]);
  }
  return byName;
}

const isActive = (instance: Instance) =>
  (ACTIVE_INSTANCE_STATES as readonly string[]).includes(instance.State?.Name ?? '');

/**
 * The instance to keep when a role has more than one up (an emulator that ignores ClientToken, a
 * launch whose response was lost before it was visible, or two runs that raced): the oldest. The
 * others are terminated so the lab has exactly one host per role.
 */
async function keepOne(
  clients: Pick<LabClients, 'ec2'>,
  role: HostRole,
  found: Instance[],
): Promise<Instance> {
  const sorted = [...found].sort(
    (a, b) =>
      (a.LaunchTime?.getTime() ?? 0) - (b.LaunchTime?.getTime() ?? 0) ||
      (a.InstanceId ?? '').localeCompare(b.InstanceId ?? ''),
  );
  const extra = sorted.slice(1).map((instance) => instance.InstanceId!);
  if (extra.length > 0) {
    logger.warn('terminating duplicate instances of a lab host', { role, instanceIds: extra });
    await clients.ec2.send(new TerminateInstancesCommand({ InstanceIds: extra }));
  }
  return sorted[0]!;
}

function isProfileNotPropagated(err: unknown): boolean {
  // AWS: InvalidParameterValue "Value (SSMLabProfile) for parameter iamInstanceProfile.name is
  // invalid. Invalid IAM Instance Profile name" right after the profile was created
  // (docs/aws-behaviours.md#iam-propagation); moto says NoSuchEntity. The message is checked so
  // other invalid values still fail.
  if (isErrorNamed(err, 'NoSuchEntity', 'NoSuchEntityException')) return true;
  return isErrorNamed(err, 'InvalidParameterValue') && /iam ?instance ?profile/i.test((err as Error).message);
}

async function launch(
  clients: Pick<LabClients, 'ec2'>,
  input: LaunchInstancesInput,
  host: HostSpec,
  amiId: string,
  instanceProfileName: string,
): Promise<Instance> {
  const { lab, network } = input;
  const tags = labTags(lab.labId, {
    Name: labNames(lab.labId).host(host.role),
    Environment: host.environment,
    [TAG_RUN_ID]: lab.runId,
  });
  const managedByProfile = host.kind !== 'onprem';
  try {
    const launched = await clients.ec2.send(
      new RunInstancesCommand({
        ImageId: amiId,
        // Validated at the edge against EC2's naming; EC2 itself refuses a type it does not offer.
        InstanceType: lab.instanceType as _InstanceType,
        MinCount: 1,
        MaxCount: 1,
        SubnetId: network.subnetId,
        // The bootstrap host alone is in the group the lab hosts accept SSH from.
        SecurityGroupIds: [
          host.kind === 'bootstrap' ? network.bootstrapSecurityGroupId : network.onPremSecurityGroupId,
        ],
        // Mock on-premises hosts: no profile (they register with an activation), reachable by key.
        ...(managedByProfile
          ? { IamInstanceProfile: { Name: instanceProfileName } }
          : { KeyName: input.keyName }),
        MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
        TagSpecifications: [
          { ResourceType: 'instance', Tags: tags },
          { ResourceType: 'volume', Tags: tags },
        ],
        ClientToken: clientToken(lab, host.role),
      }),
    );
    return launched.Instances![0]!;
  } catch (err) {
    if (managedByProfile && isProfileNotPropagated(err)) {
      throw new IamNotPropagatedYet(`EC2 cannot see instance profile ${instanceProfileName} yet`, {
        cause: err,
      });
    }
    if (isErrorNamed(err, 'IdempotentParameterMismatch')) {
      throw new LabStepFailed(
        `${host.role}: this run already launched it with other parameters (did the AMI change?); reset the lab`,
        { cause: err },
      );
    }
    throw err;
  }
}

/**
 * Seed step 3.5 (CreateSystems.sh): the lab's four hosts and the bootstrap host (with its own
 * per-lab instance profile SessionLabBootstrap-<labId>, created here; DevEC2Instance with its lab's
 * SessionLabDevHost-<labId>, created here too; ProdEC2Instance with the shared profile) on the current
 * Amazon Linux 2023 AMI, IMDSv2 only, tagged (instance and volume) with the lab, Name, Environment
 * and the run that launched them. A role with a host up or coming up (pending, running) keeps it,
 * whatever run launched it, so provisioning an existing lab again converges on its hosts (and
 * their registered nodes) instead of launching a second set; only roles with none are launched,
 * with this run's ClientToken, so a retry after a crash gets the same instance back. A host that is
 * stopped or stopping, with none up beside it, fails the step naming it: someone stopped it, and
 * provisioning neither restarts it behind their back nor launches a duplicate beside it.
 */
export async function launchInstances(
  input: LaunchInstancesInput,
  clients: Pick<LabClients, 'ec2' | 'ssm' | 'iam' | 'sts'>,
): Promise<LaunchInstancesOutput> {
  const { lab } = input;
  const names = labNames(lab.labId);
  const existing = await existingInstances(clients, lab);
  const stopped = LAB_HOSTS.flatMap((host) => {
    const found = existing.get(names.host(host.role)) ?? [];
    return found.some(isActive) ? [] : found;
  });
  if (stopped.length > 0) {
    throw new LabStepFailed(
      `lab hosts are stopped: ${stopped
        .map((i) => `${toTagRecord(i.Tags).Name} (${i.InstanceId}) is ${i.State?.Name}`)
        .join(', ')}; start them (or reset the lab) and provision again`,
    );
  }

  const ami = await clients.ssm.send(new GetParameterCommand({ Name: SHARED_NAMES.amiParameter }));
  const amiId = ami.Parameter?.Value;
  if (!amiId?.startsWith('ami-')) throw new LabStepFailed(`${SHARED_NAMES.amiParameter} holds no AMI id`);

  // The hosts side by side: one launch's latency instead of five, and a host whose launch fails
  // (throttled, profile not visible yet) does not hold back the others, which the retry then finds
  // up. Every launch is settled before the step answers, so none runs on behind its back.
  const settled = await Promise.allSettled(
    LAB_HOSTS.map(async (host): Promise<LabInstance> => {
      const found = (existing.get(names.host(host.role)) ?? []).filter(isActive);
      // The bootstrap host has an identity of its own (shared/bootstrap-role.ts), and so has the
      // Dev EC2 host (shared/dev-host-roles.ts: its student's root shell holds only its own lab's
      // credentials), each converged only when the host is launched. The Prod EC2 host keeps the
      // shared SSMLabProfile.
      const profileName = async () =>
        host.kind === 'bootstrap'
          ? ensureBootstrapProfile(clients, lab.labId)
          : host.role === 'DevEC2Instance'
            ? ensureDevHostProfile(clients, lab)
            : input.instanceProfileName;
      const instance =
        found.length > 0
          ? await keepOne(clients, host.role, found)
          : await launch(clients, input, host, amiId, await profileName());
      if (!instance.PrivateIpAddress) {
        // Assigned at launch in a VPC; missing only while EC2 has not caught up. The retry finds it by tag.
        throw new NotReadyYet(`${host.role} (${instance.InstanceId}) has no private address yet`);
      }
      return {
        role: host.role,
        kind: host.kind,
        environment: host.environment,
        instanceId: instance.InstanceId!,
        privateIpAddress: instance.PrivateIpAddress,
      };
    }),
  );
  // The first host's error in LAB_HOSTS order, whatever order they failed in.
  const failed = settled.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
  return { amiId, instances: settled.map((result) => (result as PromiseFulfilledResult<LabInstance>).value) };
}
