// The SDK, the task modules and the lab's discovery: loaded by `session-lab verify` when it runs.
import { GetUserCommand } from '@aws-sdk/client-iam';
import { GetDocumentCommand } from '@aws-sdk/client-ssm';
import { callerAccount } from '../functions/shared/account.js';
import type { LabClients } from '../functions/shared/clients.js';
import { ACTIVE_INSTANCE_STATES, findLabInstances } from '../functions/shared/discovery.js';
import { labConfigSchema } from '../functions/shared/lab-config.js';
import type { LabInstance } from '../functions/shared/lab-state.js';
import { onlineHostNodes } from '../functions/shared/managed-nodes.js';
import { LAB_HOSTS, SHARED_NAMES, labNames, type Environment } from '../functions/shared/names.js';
import { secretArn } from '../functions/shared/secrets.js';
import { inputSchema, type Input } from '../functions/verify-lab/task.js';

/**
 * verify-lab's input for an existing lab, found by its tags and names rather than by a run's state,
 * so a lab can be checked again at any time (after a night, a reset, a manual change).
 */
export async function discoverVerifyInput(
  clients: LabClients,
  labId: string,
  policyMode: 'strict' | 'seed',
): Promise<Input> {
  const names = labNames(labId);
  const instances: LabInstance[] = [];
  for (const instance of await findLabInstances(clients.ec2, labId, ACTIVE_INSTANCE_STATES)) {
    const name = instance.Tags?.find((tag) => tag.Key === 'Name')?.Value;
    const spec = LAB_HOSTS.find((host) => names.host(host.role) === name);
    if (!spec || spec.kind === 'bootstrap' || !instance.InstanceId || !instance.PrivateIpAddress) continue;
    instances.push({
      role: spec.role,
      kind: spec.kind,
      environment: spec.environment,
      instanceId: instance.InstanceId,
      privateIpAddress: instance.PrivateIpAddress,
    });
  }
  const onPrem = instances.filter((instance) => instance.kind === 'onprem');
  const nodes = [...(await onlineHostNodes(clients.ssm, labId, onPrem))].map(([role, node]) => ({
    role,
    environment: onPrem.find((host) => host.role === role)!.environment as Environment,
    managedInstanceId: node.InstanceId!,
  }));
  const [user, account, passwordSecretArn, document] = await Promise.all([
    clients.iam.send(new GetUserCommand({ UserName: names.user })),
    callerAccount(clients.sts),
    secretArn(clients.secrets, names.passwordSecret),
    clients.ssm.send(new GetDocumentCommand({ Name: SHARED_NAMES.preferencesDocument })),
  ]);
  const preferences =
    (JSON.parse(document.Content ?? '{}') as { inputs?: Record<string, unknown> }).inputs ?? {};
  return inputSchema.parse({
    lab: labConfigSchema.parse({ labId, policyMode, runId: `verify-${Date.now()}` }),
    instances,
    nodes,
    user: {
      userName: names.user,
      userArn: user.User!.Arn!,
      policyArn: `arn:${account.partition}:iam::${account.accountId}:policy/${names.userPolicy}`,
      passwordSecretArn: passwordSecretArn ?? 'arn:aws:secretsmanager:::secret:missing',
    },
    logging: {
      logGroupName: String(preferences.cloudWatchLogGroupName || SHARED_NAMES.defaultLogGroup),
      documentName: SHARED_NAMES.preferencesDocument,
      preferences,
    },
    // A lab verified later is past IAM's propagation window: a wrong cell is a real mismatch.
    propagationWindowSeconds: 0,
  });
}
