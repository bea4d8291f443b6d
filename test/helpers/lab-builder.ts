import { RunInstancesCommand } from '@aws-sdk/client-ec2';
import {
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  GetParameterCommand,
  SendCommandCommand,
} from '@aws-sdk/client-ssm';
import { configureSessionLogging } from '../../functions/configure-session-logging/task.js';
import { createActivations } from '../../functions/create-activations/task.js';
import { createInstanceRole } from '../../functions/create-instance-role/task.js';
import { createKeyPair } from '../../functions/create-key-pair/task.js';
import { createNetwork } from '../../functions/create-network/task.js';
import { createServiceRole } from '../../functions/create-service-role/task.js';
import { createWorkshopUser } from '../../functions/create-workshop-user/task.js';
import { enableAdvancedTier } from '../../functions/enable-advanced-tier/task.js';
import { launchInstances } from '../../functions/launch-instances/task.js';
import { labClients, type LabClients } from '../../functions/shared/clients.js';
import { RETRYABLE_ERRORS, isErrorNamed } from '../../functions/shared/errors.js';
import { labConfigSchema, type LabConfig, type LabInput } from '../../functions/shared/lab-config.js';
import type { LabInstance, LabNode } from '../../functions/shared/lab-state.js';
import { SHARED_NAMES } from '../../functions/shared/names.js';
import { labTags } from '../../functions/shared/tags.js';
import { waitForAdvancedTier } from '../../functions/wait-for-advanced-tier/task.js';
import { waitFor } from '../../local/emulator/net.js';
import { TEST_REGION } from './emulator.js';

/**
 * Builds a lab in the local emulator by running the provisioning tasks in-process with the
 * product's own clients (AWS_ENDPOINT_URL), retrying what the state machine retries. The hybrid
 * nodes come from two helper hosts that register with the lab's activations over Run Command
 * (the OnPrem identity wins over the EC2 one), standing in for register-agents.
 */

/** What the state machine's Retry on NotReadyYet / IamNotPropagatedYet does, without the waits. */
export async function retrying<T>(task: () => Promise<T>, attempts = 40): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await task();
    } catch (err) {
      if (attempt >= attempts || !isErrorNamed(err, ...RETRYABLE_ERRORS)) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** What the state machine's poll loop (task, Choice on `ready`, Wait) does. */
export async function polling<T extends { ready: boolean }>(
  poll: () => Promise<T>,
  what: string,
): Promise<T> {
  let last: T | undefined;
  await waitFor(
    async () => {
      last = await retrying(poll);
      return last.ready;
    },
    { timeoutMs: 30_000, intervalMs: 50, what },
  ).catch((err: Error) => {
    // What it was still waiting for is what a failure needs to say.
    err.message += ` (last answer: ${JSON.stringify(last)})`;
    throw err;
  });
  return last!;
}

export interface BuiltLab {
  lab: LabConfig;
  clients: LabClients;
  instances: LabInstance[];
  nodes: LabNode[];
  /** The helper hosts that became the hybrid nodes. */
  hybridHosts: string[];
}

async function nodesOnline(clients: LabClients, ids: string[]): Promise<boolean> {
  const { InstanceInformationList = [] } = await clients.ssm.send(
    new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: ids }] }),
  );
  return ids.every((id) =>
    InstanceInformationList.some((n) => n.InstanceId === id && n.PingStatus === 'Online'),
  );
}

/** Runs a shell script on a managed EC2 node and waits for it to succeed. */
async function runScript(clients: LabClients, instanceId: string, commands: string[]): Promise<void> {
  const { Command } = await clients.ssm.send(
    new SendCommandCommand({
      DocumentName: 'AWS-RunShellScript',
      InstanceIds: [instanceId],
      Parameters: { commands },
    }),
  );
  await waitFor(
    async () => {
      try {
        const invocation = await clients.ssm.send(
          new GetCommandInvocationCommand({ CommandId: Command!.CommandId!, InstanceId: instanceId }),
        );
        if (['Failed', 'TimedOut', 'Cancelled'].includes(invocation.Status ?? '')) {
          throw new Error(`script on ${instanceId} ${invocation.Status}: ${invocation.StandardErrorContent}`);
        }
        return invocation.Status === 'Success';
      } catch (err) {
        if (isErrorNamed(err, 'InvocationDoesNotExist')) return false;
        throw err;
      }
    },
    { timeoutMs: 30_000, intervalMs: 50, what: `the script on ${instanceId}` },
  );
}

/** The lab's infrastructure up to Online nodes: roles, activations, network, hosts, hybrid nodes, tier. */
export async function buildLabFleet(input: LabInput & { runId?: string }): Promise<BuiltLab> {
  const lab = labConfigSchema.parse({ runId: `provision-${input.labId}-1`, ...input });
  const clients = labClients();
  const { instanceProfileName } = await retrying(() => createInstanceRole({}, clients));
  const { serviceRoleName } = await retrying(() => createServiceRole({}, clients));
  const { activations } = await retrying(() => createActivations({ lab, serviceRoleName }, clients));
  const { keyName } = await retrying(() => createKeyPair({ lab }, clients));
  const network = await retrying(() => createNetwork({ lab }, clients));
  const { instances } = await retrying(() =>
    launchInstances({ lab, instanceProfileName, keyName, network }, clients),
  );
  await retrying(() => enableAdvancedTier({}, clients));

  const nodes: LabNode[] = [];
  const hybridHosts: string[] = [];
  for (const activation of activations) {
    const { Instances } = await clients.ec2.send(
      new RunInstancesCommand({
        ImageId: (
          await clients.ssm.send(
            new GetParameterCommand({
              Name: SHARED_NAMES.amiParameter,
            }),
          )
        ).Parameter!.Value!,
        InstanceType: 't3.micro',
        MinCount: 1,
        MaxCount: 1,
        SubnetId: network.subnetId,
        IamInstanceProfile: { Name: instanceProfileName },
        TagSpecifications: [
          {
            ResourceType: 'instance',
            Tags: labTags(lab.labId, { Name: `hybrid-host-${activation.environment}` }),
          },
        ],
      }),
    );
    const hostId = Instances![0]!.InstanceId!;
    hybridHosts.push(hostId);
    await waitFor(() => nodesOnline(clients, [hostId]), {
      timeoutMs: 20_000,
      intervalMs: 50,
      what: `${hostId} Online`,
    });
    // The test is the administrator here: it reads the code itself, where register-agents has the
    // bootstrap host read it by name.
    const { Parameter } = await clients.ssm.send(
      new GetParameterCommand({ Name: activation.codeParameter, WithDecryption: true }),
    );
    await runScript(clients, hostId, [
      'set -e',
      'sudo systemctl stop amazon-ssm-agent',
      `sudo amazon-ssm-agent -register -code "${Parameter!.Value}" -id "${activation.activationId}" -region "${TEST_REGION}" -y`,
      'sudo systemctl start amazon-ssm-agent',
    ]);
    let nodeId = '';
    await waitFor(
      async () => {
        const { InstanceInformationList = [] } = await clients.ssm.send(
          new DescribeInstanceInformationCommand({
            Filters: [{ Key: 'ActivationIds', Values: [activation.activationId] }],
          }),
        );
        nodeId = InstanceInformationList.find((n) => n.PingStatus === 'Online')?.InstanceId ?? '';
        return nodeId !== '';
      },
      { timeoutMs: 20_000, intervalMs: 50, what: `the ${activation.environment} hybrid node` },
    );
    nodes.push({ role: activation.hostRole, environment: activation.environment, managedInstanceId: nodeId });
  }

  const profileHosts = instances.filter((i) => i.kind !== 'onprem').map((i) => i.instanceId);
  await waitFor(() => nodesOnline(clients, profileHosts), {
    timeoutMs: 20_000,
    intervalMs: 50,
    what: 'EC2 nodes Online',
  });
  await polling(() => waitForAdvancedTier({}, clients), 'the advanced tier');
  return { lab, clients, instances, nodes, hybridHosts };
}

/** buildLabFleet, then the logging and the workshop user: everything verify-lab checks. */
export async function buildLab(input: LabInput & { runId?: string }) {
  const fleet = await buildLabFleet(input);
  const logging = await retrying(() => configureSessionLogging({ lab: fleet.lab }, fleet.clients));
  const user = await retrying(() => createWorkshopUser({ lab: fleet.lab }, fleet.clients));
  return { ...fleet, logging, user };
}
