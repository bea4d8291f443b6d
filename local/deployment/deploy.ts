import { CreateEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  AttachRolePolicyCommand,
  CreateRoleCommand,
  DeleteRolePolicyCommand,
  DetachRolePolicyCommand,
  IAMClient,
  ListAttachedRolePoliciesCommand,
  ListRolePoliciesCommand,
  PutRolePolicyCommand,
  UpdateAssumeRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { isErrorNamed } from '../../functions/shared/errors.js';
import { LOCAL_REGISTRY_TABLE, ensureRegistryTable } from '../serve/registry-table.js';
import { OPERATOR_CREDENTIALS } from '../emulator/context.js';
import type { LocalRole, LocalStack } from './local-stack.js';
import { deployManagedPolicy } from './managed-policies.js';

/**
 * Deploys what the local world needs of the stack into the emulator, as the operator: every role of
 * the template with exactly its trust policy, inline policies and managed policies (a role that is
 * there already is brought back to the template, so a test that changes a grant redeploys it), the
 * lab registry table and the progress event bus the functions' environment names.
 */

/** The operator's credentials for the emulator, which accepts them as the account's admin. */
export { OPERATOR_CREDENTIALS };

async function deployRole(iam: IAMClient, role: LocalRole): Promise<void> {
  const trust = JSON.stringify(role.trustPolicy);
  try {
    await iam.send(
      new CreateRoleCommand({
        RoleName: role.name,
        AssumeRolePolicyDocument: trust,
        Description: `local deployment of ${role.logicalId}`,
      }),
    );
  } catch (err) {
    if (!isErrorNamed(err, 'EntityAlreadyExistsException')) throw err;
    await iam.send(new UpdateAssumeRolePolicyCommand({ RoleName: role.name, PolicyDocument: trust }));
    const inline = await iam.send(new ListRolePoliciesCommand({ RoleName: role.name }));
    for (const name of inline.PolicyNames ?? [])
      if (!(name in role.inlinePolicies))
        await iam.send(new DeleteRolePolicyCommand({ RoleName: role.name, PolicyName: name }));
    const attached = await iam.send(new ListAttachedRolePoliciesCommand({ RoleName: role.name }));
    for (const policy of attached.AttachedPolicies ?? [])
      if (!role.managedPolicyArns.includes(policy.PolicyArn!))
        await iam.send(new DetachRolePolicyCommand({ RoleName: role.name, PolicyArn: policy.PolicyArn }));
  }
  for (const [name, document] of Object.entries(role.inlinePolicies))
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: role.name,
        PolicyName: name,
        PolicyDocument: JSON.stringify(document),
      }),
    );
  for (const policyArn of role.managedPolicyArns)
    await iam.send(new AttachRolePolicyCommand({ RoleName: role.name, PolicyArn: policyArn }));
}

export async function deployLocalStack(stack: LocalStack, endpoint: string): Promise<void> {
  // Like CloudFormation, the deployment outlasts throttling (an emulator may inject it).
  const config = {
    region: stack.region,
    endpoint,
    credentials: OPERATOR_CREDENTIALS,
    retryMode: 'adaptive',
    maxAttempts: 20,
  };
  const iam = new IAMClient(config);
  const dynamodb = new DynamoDBClient(config);
  const events = new EventBridgeClient(config);
  try {
    const roles = new Set([
      ...[...stack.functions.values()].map((fn) => fn.role),
      ...[...stack.stateMachines.values()].map((machine) => machine.role),
    ]);
    for (const role of roles) await deployRole(iam, role);
    for (const policy of stack.managedPolicies) await deployManagedPolicy(iam, policy);
    await ensureRegistryTable(dynamodb, LOCAL_REGISTRY_TABLE);
    const buses = new Set(
      [...stack.functions.values()]
        .map((fn) => fn.environment.EVENT_BUS_NAME)
        .filter((bus): bus is string => Boolean(bus)),
    );
    for (const bus of buses) {
      try {
        await events.send(new CreateEventBusCommand({ Name: bus.split('/').pop() }));
      } catch (err) {
        if (!isErrorNamed(err, 'ResourceAlreadyExistsException')) throw err;
      }
    }
  } finally {
    iam.destroy();
    dynamodb.destroy();
    events.destroy();
  }
}
