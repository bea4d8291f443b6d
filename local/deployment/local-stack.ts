import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { LOCAL_REGISTRY_TABLE } from '../serve/registry-table.js';
import { BUNDLE_DIR, LOCAL_STACK_NAME, type Template } from './artifacts.js';
import { resolve, UnresolvableIntrinsic, type ResolveScope } from './intrinsics.js';

/**
 * The synthesized template read as a local deployment: each function's bundle, timeout, memory,
 * environment and role, each role's trust and policies, with every intrinsic resolved to the
 * physical names the local world uses. Nothing here is written by hand per function: what the
 * stack deploys is what runs.
 */

export const LOCAL_ACCOUNT = '123456789012';

export interface PolicyDocument {
  Version?: string;
  Statement: unknown[];
}

export interface LocalRole {
  logicalId: string;
  name: string;
  arn: string;
  trustPolicy: PolicyDocument;
  /** Inline policies by name: the role's own and every AWS::IAM::Policy attached to it. */
  inlinePolicies: Record<string, PolicyDocument>;
  managedPolicyArns: string[];
}

/** A customer managed policy the stack deploys under a name of its own (the bootstrap boundary). */
export interface LocalManagedPolicy {
  logicalId: string;
  name: string;
  arn: string;
  document: PolicyDocument;
}

export interface LocalFunction {
  logicalId: string;
  /** The bundle's folder under dist/functions (`create-network`, `api-create-lab`). */
  bundle: string;
  functionName: string;
  arn: string;
  timeoutSeconds: number;
  memoryMb: number;
  environment: Record<string, string>;
  role: LocalRole;
}

export interface LocalStateMachine {
  logicalId: string;
  name: string;
  arn: string;
  role: LocalRole;
}

export interface LocalStack {
  region: string;
  accountId: string;
  functions: Map<string, LocalFunction>;
  roles: Map<string, LocalRole>;
  stateMachines: Map<string, LocalStateMachine>;
  /** The named customer managed policies, deployed as they are (not only as a role's policy). */
  managedPolicies: LocalManagedPolicy[];
}

/** `CreateNetwork` -> `create-network`. */
const kebab = (pascal: string) => pascal.replace(/(?<!^)([A-Z])/g, '-$1').toLowerCase();

/**
 * The bundle a function resource runs: CDK names lab tasks `Tasks<Folder><hash>` and the portal's
 * routes `PortalApi<Route><hash>` (infra/constructs), and esbuild.config.mjs names the bundles
 * `<folder>` and `api-<route>`.
 */
export function bundleOfLogicalId(logicalId: string): string | undefined {
  const match = /^(Tasks|PortalApi)([A-Za-z0-9]+?)[0-9A-F]{8}$/.exec(logicalId);
  if (!match) return undefined;
  return match[1] === 'Tasks' ? kebab(match[2]!) : `api-${kebab(match[2]!)}`;
}

export const localFunctionName = (bundle: string) => `session-lab-${bundle}`;

/** Reads the template as a local deployment in `region`. */
export function localStack(template: Template, region: string): LocalStack {
  const resources = template.Resources;
  const accountId = LOCAL_ACCOUNT;
  const pseudo = {
    'AWS::Region': region,
    'AWS::AccountId': accountId,
    'AWS::Partition': 'aws',
    'AWS::StackName': LOCAL_STACK_NAME,
    'AWS::URLSuffix': 'amazonaws.com',
    'AWS::NoValue': '',
  };
  const props = (id: string) => resources[id]?.Properties ?? {};
  const arn = (service: string, resource: string, { account = true, inRegion = true } = {}) =>
    `arn:aws:${service}:${inRegion ? region : ''}:${account ? accountId : ''}:${resource}`;
  const roleName = (id: string) => `${LOCAL_STACK_NAME}-${id}`.slice(0, 64);
  const functionNameOf = (id: string) => localFunctionName(bundleOfLogicalId(id) ?? id);
  const stateMachineName = (id: string) => String(props(id).StateMachineName ?? `${LOCAL_STACK_NAME}-${id}`);
  const logGroupName = (id: string) => String(props(id).LogGroupName ?? `/aws/${LOCAL_STACK_NAME}/${id}`);
  const busName = (id: string) => String(props(id).Name ?? id);

  const scope: ResolveScope = {
    pseudo,
    ref(id) {
      const type = resources[id]?.Type;
      switch (type) {
        case 'AWS::IAM::Role':
          return roleName(id);
        case 'AWS::Lambda::Function':
          return functionNameOf(id);
        case 'AWS::DynamoDB::Table':
          return LOCAL_REGISTRY_TABLE;
        case 'AWS::Events::EventBus':
          return busName(id);
        case 'AWS::StepFunctions::StateMachine':
          return arn('states', `stateMachine:${stateMachineName(id)}`);
        case 'AWS::Logs::LogGroup':
          return logGroupName(id);
        case 'AWS::SQS::Queue':
          return `http://sqs.${region}.localhost/${accountId}/${id}`;
        case 'AWS::IAM::ManagedPolicy':
          return arn('iam', `policy/${String(props(id).ManagedPolicyName ?? id)}`, { inRegion: false });
        case undefined:
          throw new UnresolvableIntrinsic(`Ref to ${id}, which the template does not define`);
        default:
          return id;
      }
    },
    getAtt(id, attribute) {
      const type = resources[id]?.Type;
      const key = `${type}.${attribute}`;
      switch (key) {
        case 'AWS::IAM::Role.Arn':
          return arn('iam', `role/${roleName(id)}`, { inRegion: false });
        case 'AWS::Lambda::Function.Arn':
          return arn('lambda', `function:${functionNameOf(id)}`);
        case 'AWS::DynamoDB::Table.Arn':
          return arn('dynamodb', `table/${LOCAL_REGISTRY_TABLE}`);
        case 'AWS::DynamoDB::Table.StreamArn':
          return arn('dynamodb', `table/${LOCAL_REGISTRY_TABLE}/stream/local`);
        case 'AWS::Events::EventBus.Arn':
          return arn('events', `event-bus/${busName(id)}`);
        case 'AWS::Events::EventBus.Name':
          return busName(id);
        case 'AWS::StepFunctions::StateMachine.Arn':
          return arn('states', `stateMachine:${stateMachineName(id)}`);
        case 'AWS::StepFunctions::StateMachine.Name':
          return stateMachineName(id);
        case 'AWS::Logs::LogGroup.Arn':
          return arn('logs', `log-group:${logGroupName(id)}:*`);
        case 'AWS::SQS::Queue.Arn':
          return arn('sqs', id);
        default:
          if (attribute === 'Arn') return arn(String(type).split('::')[1]!.toLowerCase(), id);
          throw new UnresolvableIntrinsic(`Fn::GetAtt ${id}.${attribute} (${String(type)})`);
      }
    },
  };

  const roles = new Map<string, LocalRole>();
  for (const [id, resource] of Object.entries(resources)) {
    if (resource.Type !== 'AWS::IAM::Role') continue;
    const p = resolve(resource.Properties ?? {}, scope) as Record<string, unknown>;
    const inline: Record<string, PolicyDocument> = {};
    for (const policy of (p.Policies ?? []) as { PolicyName: string; PolicyDocument: PolicyDocument }[])
      inline[policy.PolicyName] = policy.PolicyDocument;
    roles.set(id, {
      logicalId: id,
      name: roleName(id),
      arn: scope.getAtt(id, 'Arn'),
      trustPolicy: p.AssumeRolePolicyDocument as PolicyDocument,
      inlinePolicies: inline,
      managedPolicyArns: (p.ManagedPolicyArns ?? []) as string[],
    });
  }
  // AWS::IAM::Policy resources attach inline policies to the roles they name (by Ref: the name).
  for (const [, resource] of Object.entries(resources)) {
    if (resource.Type !== 'AWS::IAM::Policy' && resource.Type !== 'AWS::IAM::ManagedPolicy') continue;
    const raw = resource.Properties ?? {};
    for (const roleRef of (raw.Roles ?? []) as { Ref?: string }[]) {
      const role = roleRef.Ref ? roles.get(roleRef.Ref) : undefined;
      if (!role) continue;
      const name = String(
        raw.PolicyName ?? raw.ManagedPolicyName ?? `policy-${Object.keys(role.inlinePolicies).length}`,
      );
      role.inlinePolicies[name] = resolve(raw.PolicyDocument, scope) as PolicyDocument;
    }
  }

  const roleOf = (value: unknown, owner: string): LocalRole => {
    const id = (value as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt']?.[0];
    const role = id ? roles.get(id) : undefined;
    if (!role) throw new UnresolvableIntrinsic(`${owner}: its role is not a role of the template`);
    return role;
  };

  const functions = new Map<string, LocalFunction>();
  for (const [id, resource] of Object.entries(resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const bundle = bundleOfLogicalId(id);
    if (!bundle || !existsSync(join(BUNDLE_DIR, bundle, 'index.mjs')))
      throw new Error(`function ${id}: no bundle dist/functions/${bundle ?? '?'}/index.mjs for it`);
    const p = resource.Properties ?? {};
    const variables = (p.Environment as { Variables?: unknown } | undefined)?.Variables ?? {};
    functions.set(bundle, {
      logicalId: id,
      bundle,
      functionName: functionNameOf(id),
      arn: scope.getAtt(id, 'Arn'),
      timeoutSeconds: Number(p.Timeout ?? 3),
      memoryMb: Number(p.MemorySize ?? 128),
      environment: resolve(variables, scope) as Record<string, string>,
      role: roleOf(p.Role, id),
    });
  }

  const stateMachines = new Map<string, LocalStateMachine>();
  for (const [id, resource] of Object.entries(resources)) {
    if (resource.Type !== 'AWS::StepFunctions::StateMachine') continue;
    const name = stateMachineName(id);
    stateMachines.set(name, {
      logicalId: id,
      name,
      arn: scope.ref(id),
      role: roleOf(resource.Properties?.RoleArn, id),
    });
  }
  const managedPolicies: LocalManagedPolicy[] = [];
  for (const [id, resource] of Object.entries(resources)) {
    if (resource.Type !== 'AWS::IAM::ManagedPolicy' || !resource.Properties?.ManagedPolicyName) continue;
    managedPolicies.push({
      logicalId: id,
      name: String(resource.Properties.ManagedPolicyName),
      arn: scope.ref(id),
      document: resolve(resource.Properties.PolicyDocument, scope) as PolicyDocument,
    });
  }
  return { region, accountId, functions, roles, stateMachines, managedPolicies };
}
