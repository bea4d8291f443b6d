import {
  AddTagsToResourceCommand,
  GetCommandInvocationCommand,
  ListTagsForResourceCommand,
  type GetCommandInvocationCommandOutput,
  type InstanceInformation,
} from '@aws-sdk/client-ssm';
import * as z from 'zod';
import type { LabClients } from '../shared/clients.js';
import { LabStepFailed, isErrorNamed } from '../shared/errors.js';
import { labConfigSchema, type LabConfig } from '../shared/lab-config.js';
import { findLabManagedNodes } from '../shared/discovery.js';
import { instanceIdSchema, labInstanceSchema, type LabInstance, type LabNode } from '../shared/lab-state.js';
import { describeNodes, isNodeOfHost, preferredNode } from '../shared/managed-nodes.js';
import type { Environment, HostRole } from '../shared/names.js';
import { TAG_LAB_ID, labTags, toTagRecord } from '../shared/tags.js';

export const inputSchema = z
  .object({
    lab: labConfigSchema,
    /** null: register-agents sent no command (every on-premises host was registered already). */
    commandId: z
      .string()
      .regex(/^[0-9a-f-]{36}$/, 'must be a Run Command id')
      .nullable(),
    bootstrapInstanceId: instanceIdSchema,
    instances: z.array(labInstanceSchema).min(1),
  })
  .strict();
export type WaitForRegistrationInput = {
  lab: LabConfig;
  commandId: string | null;
  bootstrapInstanceId: string;
  instances: LabInstance[];
};

export interface WaitForRegistrationOutput {
  ready: boolean;
  pending: HostRole[];
  nodes: LabNode[];
}

/** An on-premises lab host: its environment is Dev or Prod. */
type OnPremInstance = LabInstance & { kind: 'onprem'; environment: Environment };
const isOnPrem = (instance: LabInstance): instance is OnPremInstance =>
  instance.kind === 'onprem' && instance.environment !== 'Bootstrap';

/** Invocation statuses that end in failure; the others (Pending, InProgress, Delayed, Cancelling) wait. */
const FAILED = new Set(['Failed', 'TimedOut', 'Cancelled']);

/** How much of the script's output a failure message carries. */
const TAIL_CHARS = 1500;

/**
 * The end of a command's output for an error message. The script never prints a secret; this is
 * defence in depth in case a host or the agent ever echoes one: key blocks and `-code` values go.
 */
export function outputTail(text: string | undefined): string {
  const redacted = (text ?? '')
    .replace(
      /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g,
      '[private key]',
    )
    .replace(/(-code\s+)("[^"]*"|\S+)/g, '$1[redacted]');
  return redacted.length > TAIL_CHARS ? `...${redacted.slice(-TAIL_CHARS)}` : redacted;
}

/** `REGISTERED <role> <mi-id>` lines of the script's output: role -> node id. */
export function registeredByScript(stdout: string | undefined): Map<string, string> {
  const found = new Map<string, string>();
  for (const match of (stdout ?? '').matchAll(/^REGISTERED (\S+) (mi-[0-9a-f]{17})$/gm)) {
    found.set(match[1]!, match[2]!);
  }
  return found;
}

async function invocation(
  clients: Pick<LabClients, 'ssm'>,
  commandId: string,
  bootstrapInstanceId: string,
): Promise<GetCommandInvocationCommandOutput | undefined> {
  try {
    return await clients.ssm.send(
      new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: bootstrapInstanceId }),
    );
  } catch (err) {
    // Normal for a few seconds after SendCommand.
    if (isErrorNamed(err, 'InvocationDoesNotExist')) return undefined;
    throw err;
  }
}

/**
 * The node of an on-premises host: the one the script reported registering, else the host's node
 * among the lab's, an Online one before an older ConnectionLost one. Either way the node must be
 * the host's (`isNodeOfHost`: named after it and reporting its address): a node that reports no
 * address yet leaves the host pending, and a node of another address never counts.
 */
function nodeFor(
  lab: LabConfig,
  host: OnPremInstance,
  nodes: InstanceInformation[],
  reported: Map<string, string>,
): InstanceInformation | undefined {
  const ofHost = nodes.filter((node) => isNodeOfHost(node, lab.labId, host));
  const named = reported.get(host.role);
  if (named) return ofHost.find((node) => node.InstanceId === named);
  return preferredNode(ofHost);
}

/**
 * True when the node carries the lab's tags (copied from its activation at registration). Missing
 * or different tags are written, and the node counts as pending until they read back: the Prod
 * deny of the workshop user's policy depends on `Environment`.
 */
async function tagged(
  clients: Pick<LabClients, 'ssm'>,
  lab: LabConfig,
  environment: Environment,
  nodeId: string,
): Promise<boolean> {
  let tags: Record<string, string>;
  try {
    const listed = await clients.ssm.send(
      new ListTagsForResourceCommand({ ResourceType: 'ManagedInstance', ResourceId: nodeId }),
    );
    tags = toTagRecord(listed.TagList);
  } catch (err) {
    // A node registered a moment ago may not be taggable yet (eventual consistency).
    if (isErrorNamed(err, 'InvalidResourceId')) return false;
    throw err;
  }
  if (tags[TAG_LAB_ID] === lab.labId && tags.Environment === environment) return true;
  await clients.ssm.send(
    new AddTagsToResourceCommand({
      ResourceType: 'ManagedInstance',
      ResourceId: nodeId,
      Tags: labTags(lab.labId, { Environment: environment }),
    }),
  );
  return false;
}

/** Nodes by id, each once (the two lookups below overlap). */
function unique(...lists: InstanceInformation[][]): InstanceInformation[] {
  return [...new Map(lists.flat().map((node) => [node.InstanceId, node])).values()];
}

/**
 * Seed step 3.14 as a poll: the registration command (when one was sent) has succeeded on the
 * bootstrap host, and each on-premises host has its `mi-` node Online and tagged with the lab and
 * its environment. The nodes are the lab's (by its tag, so a host registered by an earlier run is
 * found too) plus those the script reported (by id, in case a fresh node is not tagged yet). A
 * failed, timed out or cancelled command fails the step with the tail of its output (no secret is
 * in it).
 */
export async function waitForRegistration(
  input: WaitForRegistrationInput,
  clients: Pick<LabClients, 'ssm'>,
): Promise<WaitForRegistrationOutput> {
  const { lab, commandId } = input;
  const hosts = input.instances.filter(isOnPrem);
  let reported = new Map<string, string>();
  if (commandId !== null) {
    const result = await invocation(clients, commandId, input.bootstrapInstanceId);
    if (!result || result.Status !== 'Success') {
      if (result?.Status && FAILED.has(result.Status)) {
        throw new LabStepFailed(
          `registration command ${commandId} on ${input.bootstrapInstanceId} ended ${result.StatusDetails ?? result.Status}` +
            ` (exit ${result.ResponseCode ?? '?'}); stdout: ${outputTail(result.StandardOutputContent)}; stderr: ${outputTail(result.StandardErrorContent)}`,
        );
      }
      return { ready: false, pending: hosts.map((host) => host.role), nodes: [] };
    }
    reported = registeredByScript(result.StandardOutputContent);
  }

  const nodes = unique(
    ...(await Promise.all([
      findLabManagedNodes(clients.ssm, lab.labId),
      describeNodes(clients.ssm, { Key: 'InstanceIds', Values: [...reported.values()] }),
    ])),
  );
  const pending: HostRole[] = [];
  const ready: LabNode[] = [];
  for (const host of hosts) {
    const node = nodeFor(lab, host, nodes, reported);
    if (
      !node?.InstanceId ||
      node.PingStatus !== 'Online' ||
      !(await tagged(clients, lab, host.environment, node.InstanceId))
    ) {
      pending.push(host.role);
      continue;
    }
    ready.push({ role: host.role, environment: host.environment, managedInstanceId: node.InstanceId });
  }
  return { ready: pending.length === 0, pending, nodes: ready };
}
