import {
  AddTagsToResourceCommand,
  GetCommandInvocationCommand,
  ListTagsForResourceCommand,
  type GetCommandInvocationCommandOutput,
  type InstanceInformation,
} from '@aws-sdk/client-ssm';
import { z } from 'zod';
import type { LabClients } from '../shared/clients.js';
import { LabStepFailed, isErrorNamed } from '../shared/errors.js';
import { labConfigSchema, type LabConfig } from '../shared/lab-config.js';
import {
  activationRefSchema,
  instanceIdSchema,
  type ActivationRef,
  type LabNode,
} from '../shared/lab-state.js';
import { describeNodes } from '../shared/managed-nodes.js';
import type { HostRole } from '../shared/names.js';
import { TAG_LAB_ID, labTags, toTagRecord } from '../shared/tags.js';

export const inputSchema = z
  .object({
    lab: labConfigSchema,
    commandId: z.string().regex(/^[0-9a-f-]{36}$/, 'must be a Run Command id'),
    bootstrapInstanceId: instanceIdSchema,
    activations: z.array(activationRefSchema).min(1),
  })
  .strict();
export type WaitForRegistrationInput = {
  lab: LabConfig;
  commandId: string;
  bootstrapInstanceId: string;
  activations: ActivationRef[];
};

export interface WaitForRegistrationOutput {
  ready: boolean;
  pending: HostRole[];
  nodes: LabNode[];
}

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
  input: WaitForRegistrationInput,
): Promise<GetCommandInvocationCommandOutput | undefined> {
  try {
    return await clients.ssm.send(
      new GetCommandInvocationCommand({ CommandId: input.commandId, InstanceId: input.bootstrapInstanceId }),
    );
  } catch (err) {
    // Normal for a few seconds after SendCommand (facts sheet 6).
    if (isErrorNamed(err, 'InvocationDoesNotExist')) return undefined;
    throw err;
  }
}

/** The node of an activation: the one the script reported, else the newest Online one. */
function nodeFor(
  activation: ActivationRef,
  nodes: InstanceInformation[],
  reported: Map<string, string>,
): InstanceInformation | undefined {
  const candidates = nodes.filter((node) => node.ActivationId === activation.activationId);
  const named = reported.get(activation.hostRole);
  if (named) return candidates.find((node) => node.InstanceId === named);
  return candidates
    .filter((node) => node.PingStatus === 'Online')
    .sort((a, b) => (b.RegistrationDate?.getTime() ?? 0) - (a.RegistrationDate?.getTime() ?? 0))[0];
}

/**
 * True when the node carries the lab's tags (copied from its activation at registration). Missing
 * or different tags are written, and the node counts as pending until they read back: the Prod
 * deny of the workshop user's policy depends on `Environment`.
 */
async function tagged(
  clients: Pick<LabClients, 'ssm'>,
  lab: LabConfig,
  activation: ActivationRef,
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
  if (tags[TAG_LAB_ID] === lab.labId && tags.Environment === activation.environment) return true;
  await clients.ssm.send(
    new AddTagsToResourceCommand({
      ResourceType: 'ManagedInstance',
      ResourceId: nodeId,
      Tags: labTags(lab.labId, { Environment: activation.environment }),
    }),
  );
  return false;
}

/**
 * Seed step 3.14 as a poll: the registration command has succeeded on the bootstrap host, and each
 * activation's `mi-` node is Online and tagged with the lab and its environment. A failed, timed
 * out or cancelled command fails the step with the tail of its output (no secret is in it).
 */
export async function waitForRegistration(
  input: WaitForRegistrationInput,
  clients: Pick<LabClients, 'ssm'>,
): Promise<WaitForRegistrationOutput> {
  const { lab, activations } = input;
  const everyone = activations.map((a) => a.hostRole);
  const result = await invocation(clients, input);
  if (!result || result.Status !== 'Success') {
    if (result?.Status && FAILED.has(result.Status)) {
      throw new LabStepFailed(
        `registration command ${input.commandId} on ${input.bootstrapInstanceId} ended ${result.StatusDetails ?? result.Status}` +
          ` (exit ${result.ResponseCode ?? '?'}); stdout: ${outputTail(result.StandardOutputContent)}; stderr: ${outputTail(result.StandardErrorContent)}`,
      );
    }
    return { ready: false, pending: everyone, nodes: [] };
  }

  const reported = registeredByScript(result.StandardOutputContent);
  const nodes = await describeNodes(clients.ssm, {
    Key: 'ActivationIds',
    Values: activations.map((a) => a.activationId),
  });
  const pending: HostRole[] = [];
  const ready: LabNode[] = [];
  for (const activation of activations) {
    const node = nodeFor(activation, nodes, reported);
    if (
      !node?.InstanceId ||
      node.PingStatus !== 'Online' ||
      !(await tagged(clients, lab, activation, node.InstanceId))
    ) {
      pending.push(activation.hostRole);
      continue;
    }
    ready.push({
      role: activation.hostRole,
      environment: activation.environment,
      managedInstanceId: node.InstanceId,
    });
  }
  return { ready: pending.length === 0, pending, nodes: ready };
}
