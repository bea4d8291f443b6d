import {
  DeleteKeyPairCommand,
  DescribeInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import * as z from 'zod';
import { deleteActivationCodes, deleteLabActivations } from '../shared/activations.js';
import type { LabClients } from '../shared/clients.js';
import { InvalidLabInput, LabStateMismatch, NotReadyYet, ignoreErrors } from '../shared/errors.js';
import { labConfigSchema, type LabConfig } from '../shared/lab-config.js';
import {
  instanceIdSchema,
  networkSchema,
  parameterNameSchema,
  type LabNetwork,
} from '../shared/lab-state.js';
import { labNames } from '../shared/names.js';
import { deleteParameter } from '../shared/secrets.js';
import { describeGroup, revokeIngress, unexpectedIngress } from '../shared/security-groups.js';
import { TAG_LAB_ID, toTagRecord } from '../shared/tags.js';

export const inputSchema = z
  .object({
    lab: labConfigSchema,
    network: networkSchema,
    keyName: z.string().min(1).max(255),
    privateKeyParameter: parameterNameSchema,
    bootstrapInstanceId: instanceIdSchema,
  })
  .strict();
export type CloseBootstrapAccessInput = {
  lab: LabConfig;
  network: LabNetwork;
  keyName: string;
  privateKeyParameter: string;
  bootstrapInstanceId: string;
};

export interface CloseBootstrapAccessOutput {
  closed: true;
  /** Inbound rules removed by this call (0 on a re-run). */
  ingressRulesRevoked: number;
  keyName: string;
  privateKeyParameter: string;
  bootstrapInstanceId: string;
  /** The bootstrap host's state after this call: `shutting-down`, `terminated`, or `gone`. */
  bootstrapState: string;
  /** The lab's activations this call deleted (none on a re-run). */
  deletedActivations: string[];
  /** The lab's activation code parameters, deleted (or already gone). */
  deletedActivationCodes: string[];
}

/** Revokes every inbound rule of a lab group; returns how many permission entries it removed. */
async function closeGroup(clients: Pick<LabClients, 'ec2'>, groupId: string): Promise<number> {
  const group = await describeGroup(clients.ec2, groupId);
  const rules = unexpectedIngress(group?.IpPermissions);
  if (rules.length === 0) return 0;
  await revokeIngress(clients.ec2, groupId, rules);
  // Read back: "no inbound port" is the point of this step, so it is checked, not assumed.
  const left = unexpectedIngress((await describeGroup(clients.ec2, groupId))?.IpPermissions);
  if (left.length > 0) {
    throw new NotReadyYet(`security group ${groupId} still has inbound rules: ${JSON.stringify(left)}`);
  }
  return rules.length;
}

/**
 * Terminates the lab's bootstrap host. It is checked to be this lab's bootstrap host by its tags
 * first: a wrong id in the state must never terminate somebody else's instance.
 */
async function terminateBootstrap(
  clients: Pick<LabClients, 'ec2'>,
  lab: LabConfig,
  instanceId: string,
): Promise<string> {
  const described = await ignoreErrors(
    () => clients.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })),
    'InvalidInstanceID.NotFound',
  );
  const instance = described?.Reservations?.[0]?.Instances?.[0];
  // EC2 forgets terminated instances after a while: gone is done.
  if (!instance) return 'gone';
  const tags = toTagRecord(instance.Tags);
  const expectedName = labNames(lab.labId).host('Bootstrap');
  if (tags[TAG_LAB_ID] !== lab.labId || tags.Name !== expectedName) {
    throw new LabStateMismatch(
      `${instanceId} is not ${expectedName} of lab ${lab.labId} (tags ${JSON.stringify(tags)}); not terminating it`,
    );
  }
  const state = instance.State?.Name ?? '';
  if (state === 'terminated' || state === 'shutting-down') return state;
  const out = await clients.ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
  return out.TerminatingInstances?.[0]?.CurrentState?.Name ?? 'shutting-down';
}

/**
 * Hardening after registration (the seed leaves SSH open and the key on disk): the lab's groups
 * lose every inbound rule, so the lab ends with no inbound port; the bootstrap host is terminated;
 * the key pair and its stored private key are deleted; the lab's activations and their code
 * parameters are deleted too, as the workflow runs this only after wait-for-registration found
 * every on-premises host Online with its node (DeleteActivation does not deregister nodes, facts
 * sheet 2.1). Each step treats "already done" as done.
 */
export async function closeBootstrapAccess(
  input: CloseBootstrapAccessInput,
  clients: Pick<LabClients, 'ec2' | 'ssm'>,
): Promise<CloseBootstrapAccessOutput> {
  const { lab, network } = input;
  const names = labNames(lab.labId);
  // Deletes by name: only this lab's own key pair and parameter, whatever the state says.
  if (input.keyName !== names.keyPair) throw new InvalidLabInput('keyName', `must be ${names.keyPair}`);
  if (input.privateKeyParameter !== names.privateKeyParameter) {
    throw new InvalidLabInput('privateKeyParameter', `must be ${names.privateKeyParameter}`);
  }

  const ingressRulesRevoked =
    (await closeGroup(clients, network.onPremSecurityGroupId)) +
    (await closeGroup(clients, network.bootstrapSecurityGroupId));
  const bootstrapState = await terminateBootstrap(clients, lab, input.bootstrapInstanceId);
  // DeleteKeyPair succeeds for a missing key on AWS; some emulators answer NotFound.
  await ignoreErrors(
    () => clients.ec2.send(new DeleteKeyPairCommand({ KeyName: input.keyName })),
    'InvalidKeyPair.NotFound',
  );
  await deleteParameter(clients.ssm, input.privateKeyParameter);
  // The codes are secrets nobody needs once the nodes are registered: a code and a live
  // activation together would let whoever reads it register another node into the lab.
  const deletedActivations = await deleteLabActivations(clients.ssm, lab.labId);
  const deletedActivationCodes = await deleteActivationCodes(clients.ssm, lab.labId);

  return {
    closed: true,
    ingressRulesRevoked,
    keyName: input.keyName,
    privateKeyParameter: input.privateKeyParameter,
    bootstrapInstanceId: input.bootstrapInstanceId,
    bootstrapState,
    deletedActivations,
    deletedActivationCodes,
  };
}
