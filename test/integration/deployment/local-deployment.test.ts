import {
  GetRoleCommand,
  GetRolePolicyCommand,
  ListAttachedRolePoliciesCommand,
  ListRolePoliciesCommand,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { labClients } from '../../../functions/shared/clients.js';
import { ensureTemplate, type Template } from '../../../local/deployment/artifacts.js';
import { deployLocalStack } from '../../../local/deployment/deploy.js';
import { localStack, type LocalStack } from '../../../local/deployment/local-stack.js';
import { TEST_REGION, useEmulator } from '../../helpers/emulator.js';

const decode = (text: string | undefined) => JSON.parse(decodeURIComponent(text ?? '{}')) as unknown;

/** The CloudFormation intrinsics still left anywhere below `node`. */
const unresolved = (node: unknown): string[] =>
  Array.isArray(node)
    ? node.flatMap(unresolved)
    : node && typeof node === 'object'
      ? Object.entries(node).flatMap(([k, v]) => (k === 'Ref' || k.startsWith('Fn::') ? [k] : unresolved(v)))
      : [];

/**
 * What the emulator enforces is what the template says: every function of the synthesized
 * template runs under a role whose trust, inline and managed policies, as deployed into the
 * emulator, are the template's own with its intrinsics resolved.
 */
describe('the local deployment of the synthesized template', () => {
  const emulator = useEmulator();
  let template: Template;
  let stack: LocalStack;
  beforeAll(async () => {
    template = await ensureTemplate();
    stack = localStack(template, TEST_REGION);
    await deployLocalStack(stack, emulator().url);
  }, 120_000);

  it('runs every function of the template from its bundle, with its timeout, memory and environment', () => {
    const declared = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
    expect(stack.functions.size).toBe(declared.length);
    for (const [logicalId, resource] of declared) {
      const fn = [...stack.functions.values()].find((f) => f.logicalId === logicalId)!;
      expect(fn).toBeDefined();
      expect([fn.timeoutSeconds, fn.memoryMb]).toEqual([
        resource.Properties!.Timeout,
        resource.Properties!.MemorySize,
      ]);
      expect(unresolved(fn.environment)).toEqual([]);
      expect(Object.values(fn.environment).every((v) => typeof v === 'string')).toBe(true);
    }
    expect(stack.functions.get('create-network')?.environment).toMatchObject({
      REGISTRY_TABLE: 'session-lab-registry',
      STEP_NAME: 'Create network',
    });
  });

  it('deploys each role exactly as the template defines it', async () => {
    const { iam } = labClients();
    const roles = new Set([...stack.functions.values()].map((fn) => fn.role));
    for (const machine of stack.stateMachines.values()) roles.add(machine.role);
    expect(roles.size).toBeGreaterThanOrEqual(30);
    for (const role of roles) {
      expect(unresolved(role)).toEqual([]);
      const { Role } = await iam.send(new GetRoleCommand({ RoleName: role.name }));
      expect([Role?.Arn, decode(Role?.AssumeRolePolicyDocument)]).toEqual([role.arn, role.trustPolicy]);
      const { PolicyNames = [] } = await iam.send(new ListRolePoliciesCommand({ RoleName: role.name }));
      expect(PolicyNames.sort()).toEqual(Object.keys(role.inlinePolicies).sort());
      for (const name of PolicyNames) {
        const { PolicyDocument } = await iam.send(
          new GetRolePolicyCommand({ RoleName: role.name, PolicyName: name }),
        );
        expect(decode(PolicyDocument)).toEqual(role.inlinePolicies[name]);
      }
      const { AttachedPolicies = [] } = await iam.send(
        new ListAttachedRolePoliciesCommand({ RoleName: role.name }),
      );
      expect(AttachedPolicies.map((p) => p.PolicyArn).sort()).toEqual([...role.managedPolicyArns].sort());
    }
  }, 120_000);

  it('brings a changed role back to the template on the next deployment', async () => {
    const { iam } = labClients();
    const role = stack.functions.get('wait-for-instances')!.role;
    const [name] = Object.keys(role.inlinePolicies);
    const widened = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: role.name,
        PolicyName: 'extra',
        PolicyDocument: JSON.stringify(widened),
      }),
    );
    await deployLocalStack(stack, emulator().url);
    const { PolicyNames = [] } = await iam.send(new ListRolePoliciesCommand({ RoleName: role.name }));
    expect(PolicyNames).toEqual([name]);
  }, 120_000);
});
