import { DescribeKeyPairsCommand, DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { GetPolicyCommand, GetUserCommand } from '@aws-sdk/client-iam';
import { paginateGetParametersByPath } from '@aws-sdk/client-ssm';
import { callerAccount } from './account.js';
import type { LabClients } from './clients.js';
import { findLabActivations, findLabInstances, findLabManagedNodes } from './discovery.js';
import { ignoreErrors } from './errors.js';
import { labNames, labPath } from './names.js';
import { secretArn } from './secrets.js';
import { TAG_LAB_ID } from './tags.js';

/** What still exists of one lab, by kind: ids, names or ARNs. */
export interface LabInventory {
  instances: string[];
  securityGroups: string[];
  keyPairs: string[];
  parameters: string[];
  activations: string[];
  managedNodes: string[];
  users: string[];
  policies: string[];
  secrets: string[];
}

export type InventoryClients = Pick<LabClients, 'ec2' | 'ssm' | 'iam' | 'secrets' | 'sts'>;

/**
 * Everything a lab owns that still exists, found by its tag and its names (never by saved state),
 * so it answers after a crash too: the CLI's status, and the proof that teardown left nothing.
 */
export async function labInventory(clients: InventoryClients, labId: string): Promise<LabInventory> {
  const names = labNames(labId);
  const byTag = [{ Name: `tag:${TAG_LAB_ID}`, Values: [labId] }];
  const [instances, groups, keys, keyByName, activations, nodes, user, secret, account] = await Promise.all([
    findLabInstances(clients.ec2, labId),
    clients.ec2.send(new DescribeSecurityGroupsCommand({ Filters: byTag })),
    clients.ec2.send(new DescribeKeyPairsCommand({ Filters: byTag })),
    ignoreErrors(
      () => clients.ec2.send(new DescribeKeyPairsCommand({ KeyNames: [names.keyPair] })),
      'InvalidKeyPair.NotFound',
    ),
    findLabActivations(clients.ssm, labId),
    findLabManagedNodes(clients.ssm, labId),
    ignoreErrors(
      () => clients.iam.send(new GetUserCommand({ UserName: names.user })),
      'NoSuchEntityException',
    ),
    secretArn(clients.secrets, names.passwordSecret),
    callerAccount(clients.sts),
  ]);
  const policy = await ignoreErrors(
    () =>
      clients.iam.send(
        new GetPolicyCommand({
          PolicyArn: `arn:${account.partition}:iam::${account.accountId}:policy/${names.userPolicy}`,
        }),
      ),
    'NoSuchEntityException',
  );
  const parameters: string[] = [];
  for await (const page of paginateGetParametersByPath(
    { client: clients.ssm },
    { Path: labPath(labId), Recursive: true },
  )) {
    parameters.push(...(page.Parameters ?? []).map((p) => p.Name!));
  }
  const keyPairs = new Set([...(keys.KeyPairs ?? []), ...(keyByName?.KeyPairs ?? [])].map((k) => k.KeyName!));
  return {
    instances: instances.map((i) => i.InstanceId!),
    securityGroups: (groups.SecurityGroups ?? []).map((g) => g.GroupId!),
    keyPairs: [...keyPairs],
    parameters,
    activations: activations.map((a) => a.ActivationId!),
    managedNodes: nodes.map((n) => n.InstanceId!),
    users: user ? [names.user] : [],
    policies: policy?.Policy?.Arn ? [policy.Policy.Arn] : [],
    secrets: secret ? [secret] : [],
  };
}

/** How many resources an inventory still lists. */
export const inventoryCount = (inventory: LabInventory) =>
  Object.values(inventory).reduce((sum, list) => sum + list.length, 0);
