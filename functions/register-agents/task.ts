import {
  SendCommandCommand,
  paginateListCommands,
  type Command,
  type CommandStatus,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { clientRegion } from '../shared/account.js';
import { OUTCOME_UNKNOWN, sentAtMostOnce, type LabClients } from '../shared/clients.js';
import { InvalidLabInput, LabStepFailed, NotReadyYet, isErrorNamed } from '../shared/errors.js';
import { labConfigSchema, type LabConfig } from '../shared/lab-config.js';
import {
  activationRefSchema,
  labInstanceSchema,
  parameterNameSchema,
  type ActivationRef,
  type LabInstance,
} from '../shared/lab-state.js';
import { describeNodes, onlineHostNodes, onlineInstances } from '../shared/managed-nodes.js';
import type { HostRole } from '../shared/names.js';
import { registrationScript } from './script.js';

export const inputSchema = z
  .object({
    lab: labConfigSchema,
    instances: z.array(labInstanceSchema).min(1),
    activations: z.array(activationRefSchema),
    privateKeyParameter: parameterNameSchema,
  })
  .strict();
export type RegisterAgentsInput = {
  lab: LabConfig;
  instances: LabInstance[];
  activations: ActivationRef[];
  privateKeyParameter: string;
};

export interface RegisterAgentsOutput {
  /**
   * The registration command, or `null` when no command was sent: every on-premises host already
   * has an Online node of the lab (a lab provisioned again), or this run's activation already has it.
   */
  commandId: string | null;
  bootstrapInstanceId: string;
  /** The hosts the command registers; empty when no command was sent. */
  registering: HostRole[];
}

export const RUN_SHELL_SCRIPT = 'AWS-RunShellScript';
/** Seconds the script may run: two hosts, each with up to a minute of ssh retries while it boots. */
export const EXECUTION_TIMEOUT_SECONDS = 600;
/** Seconds for delivery; the bootstrap host is checked Online just before sending. */
export const DELIVERY_TIMEOUT_SECONDS = 300;

/** Statuses of an earlier identical command that make sending it again wrong (it ran or will run). */
const LIVE_OR_DONE: readonly CommandStatus[] = ['Pending', 'InProgress', 'Success'];

/**
 * The command's first line: the script's non-secret inputs as environment variables. Every value
 * was validated by its schema (Region, parameter names, IPv4, UUID, role) and so holds no quote,
 * backslash or newline; HOSTS' line breaks are written `\n` inside ANSI-C quoting, keeping this one
 * line.
 */
export function inputLine(region: string, keyParameter: string, hosts: string[]): string {
  const hostsValue = hosts.length > 0 ? `$'${hosts.join('\\n')}'` : "''";
  return `export REGION='${region}' KEY_PARAMETER='${keyParameter}' HOSTS=${hostsValue}`;
}

export function commentFor(labId: string): string {
  return `session-lab ${labId}: register the on-premises hosts`;
}

/** An earlier command of this lab to the bootstrap host with the very same inputs, if any. */
async function previousCommand(
  ssm: SSMClient,
  bootstrapInstanceId: string,
  comment: string,
  firstLine: string,
): Promise<Command | undefined> {
  const matching: Command[] = [];
  for await (const page of paginateListCommands({ client: ssm }, { InstanceId: bootstrapInstanceId })) {
    for (const command of page.Commands ?? []) {
      if (
        command.DocumentName === RUN_SHELL_SCRIPT &&
        command.Comment === comment &&
        command.Parameters?.commands?.[0] === firstLine
      ) {
        matching.push(command);
      }
    }
  }
  matching.sort((a, b) => (b.RequestedDateTime?.getTime() ?? 0) - (a.RequestedDateTime?.getTime() ?? 0));
  return matching[0];
}

/**
 * Seed steps 3.11-3.14 without a person: one Run Command to the bootstrap host, which fetches the
 * private key and the activation codes from Parameter Store by name and registers each mock
 * on-premises host over SSH (register-agents.sh). The command carries names only, never a secret.
 * Left out are the hosts that already have an Online node of the lab (named after the host, on its
 * address: registered by an earlier run, whose key pair is gone, so they could not be reached over
 * SSH anyway) and the hosts whose activation of this run already has a node (a registration limit
 * is the number of hosts, and re-registering would make a second node). With no host left, nothing
 * is sent (`commandId: null`). An identical command already running or done is returned instead of
 * sent again, so a retry after a crash converges.
 */
export async function registerAgents(
  input: RegisterAgentsInput,
  clients: Pick<LabClients, 'ssm'>,
): Promise<RegisterAgentsOutput> {
  const { lab, instances, activations } = input;
  const bootstrap = instances.find((instance) => instance.kind === 'bootstrap');
  if (!bootstrap) throw new InvalidLabInput('instances', 'has no bootstrap host');
  const onPrem = instances.filter((instance) => instance.kind === 'onprem');
  const [online, activated] = await Promise.all([
    onlineHostNodes(clients.ssm, lab.labId, onPrem),
    describeNodes(clients.ssm, { Key: 'ActivationIds', Values: activations.map((a) => a.activationId) }),
  ]);
  const usedActivations = new Set(activated.map((node) => node.ActivationId));
  const registering: LabInstance[] = [];
  const hostLines: string[] = [];
  for (const host of onPrem) {
    if (online.has(host.role)) continue;
    const activation = activations.find((a) => a.hostRole === host.role);
    if (!activation) {
      // create-activations saw this host Online and made none; the node went away since.
      throw new LabStepFailed(
        `${host.role} (${host.instanceId}) has no Online node of lab ${lab.labId} and this run has no activation for it; provision again`,
      );
    }
    if (usedActivations.has(activation.activationId)) continue;
    registering.push(host);
    hostLines.push(
      `${host.role},${host.privateIpAddress},${activation.activationId},${activation.codeParameter}`,
    );
  }
  const done = (commandId: string | null): RegisterAgentsOutput => ({
    commandId,
    bootstrapInstanceId: bootstrap.instanceId,
    registering: registering.map((host) => host.role),
  });
  if (registering.length === 0) return done(null);

  // A command to a node that is not Online waits in Pending until it times out.
  if (!(await onlineInstances(clients.ssm, [bootstrap.instanceId])).has(bootstrap.instanceId)) {
    throw new NotReadyYet(`bootstrap host ${bootstrap.instanceId} is not Online in Systems Manager yet`);
  }

  const region = await clientRegion(clients.ssm);
  const firstLine = inputLine(region, input.privateKeyParameter, hostLines);
  const comment = commentFor(lab.labId);
  const previous = await previousCommand(clients.ssm, bootstrap.instanceId, comment, firstLine);
  if (previous?.CommandId && LIVE_OR_DONE.includes(previous.Status!)) return done(previous.CommandId);

  try {
    // SendCommand has no client token: a lost answer is not resent blindly by the SDK (it may have
    // run); the retry re-runs this task, which finds that command above before sending another.
    const sent = await clients.ssm.send(
      sentAtMostOnce(
        new SendCommandCommand({
          DocumentName: RUN_SHELL_SCRIPT,
          InstanceIds: [bootstrap.instanceId],
          Comment: comment,
          Parameters: {
            commands: [firstLine, await registrationScript()],
            executionTimeout: [String(EXECUTION_TIMEOUT_SECONDS)],
          },
          TimeoutSeconds: DELIVERY_TIMEOUT_SECONDS,
        }),
      ),
    );
    return done(sent.Command!.CommandId!);
  } catch (err) {
    if (isErrorNamed(err, OUTCOME_UNKNOWN)) {
      throw new NotReadyYet(`the answer to SendCommand was lost; whether it ran is checked again`, {
        cause: err,
      });
    }
    // The node stopped answering between our check and the send.
    if (isErrorNamed(err, 'InvalidInstanceId')) {
      throw new NotReadyYet(`bootstrap host ${bootstrap.instanceId} cannot take commands yet`, {
        cause: err,
      });
    }
    throw err;
  }
}
