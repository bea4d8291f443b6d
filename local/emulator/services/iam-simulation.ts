import {
  GetGroupCommand,
  GetGroupPolicyCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  GetUserCommand,
  GetUserPolicyCommand,
  IAMClient,
  ListAttachedGroupPoliciesCommand,
  ListAttachedRolePoliciesCommand,
  ListAttachedUserPoliciesCommand,
  ListGroupPoliciesCommand,
  ListGroupsForUserCommand,
  ListRolePoliciesCommand,
  ListRoleTagsCommand,
  ListUserPoliciesCommand,
  ListUserTagsCommand,
  type Tag,
} from '@aws-sdk/client-iam';
// AGPL-licensed: used by the local emulator only, never bundled into a Lambda (see local-tools.md).
import {
  runSimulation,
  runUnsafeSimulation,
  type RequestAnalysis,
  type Simulation,
} from '@cloud-copilot/iam-simulate';
import type { EmulatorContext, OperationHandler } from '../context.js';
import { AwsError, type AwsCall } from '../protocol.js';
import { decodePolicyText, statementSpans, type Position, type StatementSpan } from './policy-text.js';

/**
 * IAM policy simulation (SimulatePrincipalPolicy, SimulateCustomPolicy) on the policies stored in
 * moto, evaluated with @cloud-copilot/iam-simulate, and the same evaluator for the emulator's own
 * authorization decisions (StartSession and friends), so what the simulator says is what the
 * endpoint enforces.
 */

export type SourcePolicyType =
  'user' | 'group' | 'role' | 'aws-managed' | 'user-managed' | 'resource' | 'none';

/** One policy document taking part in a simulation, with where it came from. */
export interface SourcePolicy {
  /** What MatchedStatements reports: the policy name, or `PolicyInputList.N` for input policies. */
  id: string;
  type: SourcePolicyType;
  text: string;
  document: unknown;
  spans: StatementSpan[];
  /** A managed policy's ARN (what a write to that policy invalidates; authorization/principals.ts). */
  arn?: string;
}

export type Decision = 'allowed' | 'explicitDeny' | 'implicitDeny';

export interface MatchedStatement {
  SourcePolicyId: string;
  SourcePolicyType: SourcePolicyType;
  StartPosition?: Position;
  EndPosition?: Position;
}

export interface Evaluation {
  decision: Decision;
  matchedStatements: MatchedStatement[];
  missingContextValues: string[];
  /** Present when a permissions boundary took part. */
  allowedByPermissionsBoundary?: boolean;
}

export type ContextValues = Record<string, string | string[]>;

export interface PrincipalPolicies {
  arn: string;
  kind: 'user' | 'role' | 'group';
  name: string;
  /** The IAM unique id (AIDA…/AROA…/AGPA…). */
  id?: string;
  identity: SourcePolicy[];
  boundary?: SourcePolicy[];
  /** The user's or role's tags: the aws:PrincipalTag/<key> values of its requests. */
  tags?: Record<string, string>;
  /** A user's groups (their policies are among `identity`). */
  groups?: string[];
}

const noSuchEntity = (message: string) => new AwsError('NoSuchEntity', message, 404);
const invalidInput = (message: string) => new AwsError('InvalidInput', message, 400);

export function sourcePolicy(id: string, type: SourcePolicyType, raw: string): SourcePolicy {
  const text = decodePolicyText(raw);
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw invalidInput(`The policy ${id} is not valid JSON.`);
  }
  return { id, type, text, document, spans: statementSpans(text) };
}

// ---------------------------------------------------------------------------------------------
// Reading a principal's policies from moto

const awsManagedCache = (ctx: EmulatorContext) =>
  ctx.slice('iam-simulation:aws-managed', () => new Map<string, SourcePolicy>());

/** A managed policy's default version. AWS managed policies never change, so they are read once. */
async function managedPolicy(ctx: EmulatorContext, iam: IAMClient, policyArn: string): Promise<SourcePolicy> {
  const awsManaged = policyArn.startsWith('arn:aws:iam::aws:policy/');
  const cache = awsManagedCache(ctx);
  const cached = cache.get(policyArn);
  if (cached) return cached;
  const { Policy } = await iam.send(new GetPolicyCommand({ PolicyArn: policyArn }));
  const { PolicyVersion } = await iam.send(
    new GetPolicyVersionCommand({ PolicyArn: policyArn, VersionId: Policy?.DefaultVersionId }),
  );
  const policy = {
    ...sourcePolicy(
      Policy?.PolicyName ?? policyArn,
      awsManaged ? 'aws-managed' : 'user-managed',
      PolicyVersion?.Document ?? '{}',
    ),
    arn: policyArn,
  };
  if (awsManaged) cache.set(policyArn, policy);
  return policy;
}

/** Every item of a Marker-paginated IAM list. */
async function allPages<T>(
  fetch: (
    marker: string | undefined,
  ) => Promise<{ items: T[] | undefined; IsTruncated?: boolean; Marker?: string }>,
): Promise<T[]> {
  const items: T[] = [];
  let marker: string | undefined;
  do {
    const page = await fetch(marker);
    items.push(...(page.items ?? []));
    marker = page.IsTruncated ? page.Marker : undefined;
  } while (marker);
  return items;
}

async function userPolicies(ctx: EmulatorContext, iam: IAMClient, userName: string): Promise<SourcePolicy[]> {
  const policies: SourcePolicy[] = [];
  const attached = await allPages(async (Marker) => {
    const r = await iam.send(new ListAttachedUserPoliciesCommand({ UserName: userName, Marker }));
    return { ...r, items: r.AttachedPolicies };
  });
  for (const p of attached) policies.push(await managedPolicy(ctx, iam, p.PolicyArn!));
  const inline = await allPages(async (Marker) => {
    const r = await iam.send(new ListUserPoliciesCommand({ UserName: userName, Marker }));
    return { ...r, items: r.PolicyNames };
  });
  for (const name of inline) {
    const r = await iam.send(new GetUserPolicyCommand({ UserName: userName, PolicyName: name }));
    policies.push(sourcePolicy(name, 'user', r.PolicyDocument ?? '{}'));
  }
  return policies;
}

async function groupPolicies(
  ctx: EmulatorContext,
  iam: IAMClient,
  groupName: string,
): Promise<SourcePolicy[]> {
  const policies: SourcePolicy[] = [];
  const attached = await allPages(async (Marker) => {
    const r = await iam.send(new ListAttachedGroupPoliciesCommand({ GroupName: groupName, Marker }));
    return { ...r, items: r.AttachedPolicies };
  });
  for (const p of attached) policies.push(await managedPolicy(ctx, iam, p.PolicyArn!));
  const inline = await allPages(async (Marker) => {
    const r = await iam.send(new ListGroupPoliciesCommand({ GroupName: groupName, Marker }));
    return { ...r, items: r.PolicyNames };
  });
  for (const name of inline) {
    const r = await iam.send(new GetGroupPolicyCommand({ GroupName: groupName, PolicyName: name }));
    policies.push(sourcePolicy(name, 'group', r.PolicyDocument ?? '{}'));
  }
  return policies;
}

async function rolePolicies(ctx: EmulatorContext, iam: IAMClient, roleName: string): Promise<SourcePolicy[]> {
  const policies: SourcePolicy[] = [];
  const attached = await allPages(async (Marker) => {
    const r = await iam.send(new ListAttachedRolePoliciesCommand({ RoleName: roleName, Marker }));
    return { ...r, items: r.AttachedPolicies };
  });
  for (const p of attached) policies.push(await managedPolicy(ctx, iam, p.PolicyArn!));
  const inline = await allPages(async (Marker) => {
    const r = await iam.send(new ListRolePoliciesCommand({ RoleName: roleName, Marker }));
    return { ...r, items: r.PolicyNames };
  });
  for (const name of inline) {
    const r = await iam.send(new GetRolePolicyCommand({ RoleName: roleName, PolicyName: name }));
    policies.push(sourcePolicy(name, 'role', r.PolicyDocument ?? '{}'));
  }
  return policies;
}

const tagMap = (tags: Tag[] | undefined) =>
  Object.fromEntries((tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));

const PRINCIPAL_ARN = /^arn:aws[\w-]*:iam::(\d{12}):(user|role|group)\/(?:[^/]+\/)*([\w+=,.@-]+)$/;

/**
 * The identity policies of a user (its own and its groups'), a role or a group, read from moto,
 * plus the permissions boundary of a user or role. Unknown principals are NoSuchEntity, as in IAM.
 */
export async function loadPrincipalPolicies(
  ctx: EmulatorContext,
  principalArn: string,
): Promise<PrincipalPolicies> {
  const match = PRINCIPAL_ARN.exec(principalArn);
  if (!match) throw invalidInput(`Invalid ARN for PolicySourceArn: ${principalArn}`);
  const [, account, kind, name] = match as unknown as [string, string, 'user' | 'role' | 'group', string];
  const missing = () => noSuchEntity(`The ${kind} with name ${name} cannot be found.`);
  if (account !== ctx.accountId) throw missing();
  const iam = ctx.moto(IAMClient, 'us-east-1');
  try {
    if (kind === 'user') {
      const { User } = await iam.send(new GetUserCommand({ UserName: name }));
      if (User?.Arn !== principalArn) throw missing();
      const identity = await userPolicies(ctx, iam, name);
      const groups = await allPages(async (Marker) => {
        const r = await iam.send(new ListGroupsForUserCommand({ UserName: name, Marker }));
        return { ...r, items: r.Groups };
      });
      for (const group of groups) identity.push(...(await groupPolicies(ctx, iam, group.GroupName!)));
      const boundaryArn = User.PermissionsBoundary?.PermissionsBoundaryArn;
      const tags = await allPages(async (Marker) => {
        const r = await iam.send(new ListUserTagsCommand({ UserName: name, Marker }));
        return { ...r, items: r.Tags };
      });
      return {
        arn: principalArn,
        kind,
        name,
        id: User.UserId,
        identity,
        boundary: boundaryArn ? [await managedPolicy(ctx, iam, boundaryArn)] : undefined,
        tags: tagMap(tags),
        groups: groups.map((g) => g.GroupName!),
      };
    }
    if (kind === 'role') {
      const { Role } = await iam.send(new GetRoleCommand({ RoleName: name }));
      if (Role?.Arn !== principalArn) throw missing();
      const boundaryArn = Role.PermissionsBoundary?.PermissionsBoundaryArn;
      const tags = await allPages(async (Marker) => {
        const r = await iam.send(new ListRoleTagsCommand({ RoleName: name, Marker }));
        return { ...r, items: r.Tags };
      });
      return {
        arn: principalArn,
        kind,
        name,
        id: Role.RoleId,
        identity: await rolePolicies(ctx, iam, name),
        boundary: boundaryArn ? [await managedPolicy(ctx, iam, boundaryArn)] : undefined,
        tags: tagMap(tags),
      };
    }
    const { Group } = await iam.send(new GetGroupCommand({ GroupName: name }));
    if (Group?.Arn !== principalArn) throw missing();
    return {
      arn: principalArn,
      kind,
      name,
      id: Group.GroupId,
      identity: await groupPolicies(ctx, iam, name),
    };
  } catch (err) {
    if ((err as Error).name === 'NoSuchEntityException') throw missing();
    throw err;
  }
}

/** The identity keys AWS knows for the principal, so `${aws:username}`, principal tags and friends resolve. */
export function principalContext(
  accountId: string,
  p: Pick<PrincipalPolicies, 'arn' | 'kind' | 'name' | 'id' | 'tags'>,
): Record<string, string> {
  const context: Record<string, string> = { 'aws:PrincipalArn': p.arn, 'aws:PrincipalAccount': accountId };
  if (p.kind === 'user') {
    context['aws:username'] = p.name;
    context['aws:PrincipalType'] = 'User';
    if (p.id) context['aws:userid'] = p.id;
  } else if (p.kind === 'role') {
    context['aws:PrincipalType'] = 'AssumedRole';
  }
  for (const [key, value] of Object.entries(p.tags ?? {})) context[`aws:PrincipalTag/${key}`] = value;
  return context;
}

// ---------------------------------------------------------------------------------------------
// Evaluation

const ACTION = /^[a-zA-Z0-9-]+:[a-zA-Z0-9*?]+$/;

type StatementAnalysis = NonNullable<RequestAnalysis['identityAnalysis']>['allowStatements'][number];

interface Analyses {
  result: 'Allowed' | 'ExplicitlyDenied' | 'ImplicitlyDenied';
  analyses: RequestAnalysis[];
}

/** Context keys a statement reads: its condition keys and the variables in resources and values. */
function statementContextKeys(statement: unknown): string[] {
  const keys: string[] = [];
  const variables = (value: unknown) => {
    for (const text of [value].flat()) {
      if (typeof text === 'string') for (const m of text.matchAll(/\$\{([^}*?$]+)\}/g)) keys.push(m[1]!);
    }
  };
  const s = (statement ?? {}) as Record<string, unknown>;
  variables(s.Resource);
  variables(s.NotResource);
  for (const block of Object.values((s.Condition ?? {}) as Record<string, Record<string, unknown>>)) {
    for (const [key, values] of Object.entries(block ?? {})) {
      keys.push(key);
      variables(values);
    }
  }
  return keys;
}

function rawStatement(policy: SourcePolicy | undefined, index: number): unknown {
  const statements = (policy?.document as { Statement?: unknown } | undefined)?.Statement;
  return Array.isArray(statements) ? statements[index - 1] : statements;
}

const ENCRYPTION_CONTEXT = /^kms:EncryptionContext:(.+)$/i;

/** A stand-in for kms:EncryptionContext:<key> that iam-simulate keeps (a `/` variable key). */
const proxyKey = (key: string) =>
  `aws:ResourceTag/session-lab-encryption-context-${key.replace(/[^A-Za-z0-9]/g, (c) => `_${c.charCodeAt(0).toString(16)}`)}`;

function proxyConditions(document: unknown): unknown {
  const doc = document as { Statement?: unknown };
  const rewrite = (statement: Record<string, unknown>) => {
    const condition = statement.Condition as Record<string, Record<string, unknown>> | undefined;
    if (!condition) return statement;
    const blocks = Object.fromEntries(
      Object.entries(condition).map(([operator, block]) => [
        operator,
        Object.fromEntries(
          Object.entries(block ?? {}).map(([key, value]) => {
            const match = ENCRYPTION_CONTEXT.exec(key);
            return [match ? proxyKey(match[1]!) : key, value];
          }),
        ),
      ]),
    );
    return { ...statement, Condition: blocks };
  };
  if (Array.isArray(doc.Statement))
    return { ...doc, Statement: doc.Statement.map((st) => rewrite(st as Record<string, unknown>)) };
  if (doc.Statement && typeof doc.Statement === 'object')
    return { ...doc, Statement: rewrite(doc.Statement as Record<string, unknown>) };
  return document;
}

/**
 * iam-simulate drops request context keys whose variable part follows a colon
 * (kms:EncryptionContext:<key>, which the emulator sets on the KMS requests services make), so a
 * condition on one could never match. Such keys, in the context and in every policy's conditions,
 * are renamed to a `/` variable key it keeps (an aws:ResourceTag/ spelling no real tag uses).
 */
function withEncryptionContextProxies(request: SimulationRequest): SimulationRequest {
  const mentions = (p: SourcePolicy) => /kms:EncryptionContext:/i.test(p.text);
  const policies = [
    ...request.identity,
    ...(request.boundary ?? []),
    ...(request.resourcePolicy ? [request.resourcePolicy] : []),
  ];
  if (!policies.some(mentions)) return request;
  const proxied = (p: SourcePolicy): SourcePolicy =>
    mentions(p) ? { ...p, document: proxyConditions(p.document) } : p;
  const context: ContextValues = {};
  for (const [key, value] of Object.entries(request.context)) {
    const match = ENCRYPTION_CONTEXT.exec(key);
    context[match ? proxyKey(match[1]!) : key] = value;
  }
  return {
    ...request,
    identity: request.identity.map(proxied),
    boundary: request.boundary?.map(proxied),
    resourcePolicy: request.resourcePolicy && proxied(request.resourcePolicy),
    context,
  };
}

export interface SimulationRequest {
  principalArn: string;
  action: string;
  resourceArn: string;
  /** The account that owns the resource (the caller's own unless told otherwise). */
  resourceAccount: string;
  identity: SourcePolicy[];
  boundary?: SourcePolicy[];
  resourcePolicy?: SourcePolicy;
  context: ContextValues;
}

/**
 * iam-simulate's refusals of a resource for the action (a type the action does not know, an ARN
 * for a wildcard-only action, an ARN several types match) and of an action it does not know.
 */
const UNVALIDATED = new Set([
  'no.resource.types',
  'invalid.action',
  'must.use.wildcard',
  'multiple.resource.types',
]);

/**
 * Evaluates one action on one resource. iam-simulate validates the resource against the action's
 * resource types; IAM's simulator does not (it simulates any ARN), so a resource the action does
 * not know is evaluated without that validation, and then without statement details.
 */
export async function simulate(original: SimulationRequest): Promise<Evaluation> {
  if (!ACTION.test(original.action)) throw invalidInput(`Invalid action name: ${original.action}`);
  const request = withEncryptionContextProxies(original);
  const names = new Map<string, SourcePolicy>();
  const named = (prefix: string, list: SourcePolicy[]) =>
    list.map((policy, i) => {
      names.set(`${prefix}-${i}`, policy);
      return { name: `${prefix}-${i}`, policy: policy.document };
    });
  const simulation: Simulation = {
    request: {
      principal: request.principalArn,
      action: request.action,
      resource: { resource: request.resourceArn, accountId: request.resourceAccount },
      contextVariables: request.context,
    },
    identityPolicies: named('identity', request.identity),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
  };
  if (request.boundary) simulation.permissionBoundaryPolicies = named('boundary', request.boundary);
  if (request.resourcePolicy) {
    names.set('resource', request.resourcePolicy);
    simulation.resourcePolicy = request.resourcePolicy.document;
  }

  const response = await runSimulation(simulation, {});
  let outcome: Analyses;
  if (response.resultType === 'error') {
    const { errors } = response;
    const policyErrors = {
      ...errors.identityPolicyErrors,
      ...errors.permissionBoundaryErrors,
      ...(errors.resourcePolicyErrors ? { resource: errors.resourcePolicyErrors } : {}),
    };
    const bad = Object.entries(policyErrors).filter(([, list]) => list && list.length > 0);
    if (bad.length > 0) {
      const [name, list] = bad[0]!;
      const policy = names.get(name);
      throw invalidInput(
        `The policy ${policy?.id ?? name} is malformed: ${list!.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
      );
    }
    if (UNVALIDATED.has(errors.message)) {
      outcome = { result: runUnsafeSimulation(simulation, {}), analyses: [] };
    } else {
      throw invalidInput(`The simulation input is not valid: ${errors.message}`);
    }
  } else if (response.resultType === 'single') {
    outcome = { result: response.overallResult, analyses: [response.result.analysis] };
  } else {
    outcome = { result: response.overallResult, analyses: response.results.map((r) => r.analysis) };
  }

  const decision: Decision =
    outcome.result === 'Allowed'
      ? 'allowed'
      : outcome.result === 'ExplicitlyDenied'
        ? 'explicitDeny'
        : 'implicitDeny';

  const deciding: StatementAnalysis[] = [];
  const considered: StatementAnalysis[] = [];
  for (const analysis of outcome.analyses) {
    const parts = [analysis.identityAnalysis, analysis.resourceAnalysis, analysis.permissionBoundaryAnalysis];
    for (const part of parts) {
      if (!part) continue;
      considered.push(...part.allowStatements, ...part.denyStatements, ...part.unmatchedStatements);
      if (decision === 'explicitDeny') deciding.push(...part.denyStatements);
      // A boundary only limits; the statements that grant are the identity and resource ones.
      if (decision === 'allowed' && part !== analysis.permissionBoundaryAnalysis)
        deciding.push(...part.allowStatements);
    }
  }

  const seen = new Set<string>();
  const matchedStatements: MatchedStatement[] = [];
  for (const s of deciding) {
    const policy = names.get(s.policyId);
    const index = s.statement.index();
    const key = `${s.policyId}#${index}`;
    if (!policy || seen.has(key)) continue;
    seen.add(key);
    const span = policy.spans[index - 1];
    matchedStatements.push({
      SourcePolicyId: policy.id,
      SourcePolicyType: policy.type,
      ...(span ? { StartPosition: span.start, EndPosition: span.end } : {}),
    });
  }

  const provided = new Set(Object.keys(request.context).map((k) => k.toLowerCase()));
  const missing = new Map<string, string>();
  for (const s of considered) {
    if (!s.actionMatch) continue;
    for (const key of statementContextKeys(rawStatement(names.get(s.policyId), s.statement.index()))) {
      if (!provided.has(key.toLowerCase())) missing.set(key.toLowerCase(), key);
    }
  }

  const evaluation: Evaluation = {
    decision,
    matchedStatements,
    missingContextValues: [...missing.values()],
  };
  if (request.boundary) {
    const boundary = outcome.analyses.map((a) => a.permissionBoundaryAnalysis?.result);
    evaluation.allowedByPermissionsBoundary =
      boundary.length > 0 ? boundary.every((r) => r === 'Allowed') : outcome.result === 'Allowed';
  }
  return evaluation;
}

// ---------------------------------------------------------------------------------------------
// The IAM operations

const CONTEXT_TYPES = new Set([
  'string',
  'stringList',
  'numeric',
  'numericList',
  'boolean',
  'booleanList',
  'ip',
  'ipList',
  'binary',
  'binaryList',
  'date',
  'dateList',
]);

const VALUE_CHECKS: Record<string, (v: string) => boolean> = {
  numeric: (v) => v.trim() !== '' && !Number.isNaN(Number(v)),
  boolean: (v) => v === 'true' || v === 'false',
  date: (v) => !Number.isNaN(Date.parse(v)) || /^\d+$/.test(v),
  ip: (v) => /^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(v),
};

interface ContextEntryInput {
  ContextKeyName?: string;
  ContextKeyValues?: string[];
  ContextKeyType?: string;
}

/** ContextEntries as iam-simulate's context variables: list types as arrays, scalars as strings. */
export function contextFromEntries(entries: ContextEntryInput[] | undefined): ContextValues {
  const context: ContextValues = {};
  for (const entry of entries ?? []) {
    const name = entry.ContextKeyName;
    if (!name) throw invalidInput('ContextEntries: ContextKeyName is required.');
    const type = entry.ContextKeyType ?? 'string';
    if (!CONTEXT_TYPES.has(type))
      throw invalidInput(`ContextEntries: invalid ContextKeyType ${type} for ${name}.`);
    const values = (entry.ContextKeyValues ?? []).map(String);
    const check = VALUE_CHECKS[type.replace(/List$/, '')];
    const bad = check && values.find((v) => !check(v));
    if (bad !== undefined)
      throw invalidInput(`ContextEntries: ${bad} is not a valid ${type} value for ${name}.`);
    const isList = type.endsWith('List');
    if (!isList && values.length !== 1)
      throw invalidInput(`ContextEntries: ${name} of type ${type} takes exactly one value.`);
    context[name] = isList ? values : values[0]!;
  }
  return context;
}

function asList<T>(value: unknown): T[] {
  if (value === undefined || value === null || value === '') return [];
  return (Array.isArray(value) ? value : [value]) as T[];
}

function maxItems(input: { MaxItems?: string | number }): number {
  if (input.MaxItems === undefined) return 100;
  const n = Number(input.MaxItems);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw invalidInput('MaxItems must be between 1 and 1000.');
  return n;
}

/** Opaque markers: the offset into the full result list. */
function markerOffset(marker: unknown, total: number): number {
  if (marker === undefined || marker === '') return 0;
  const text = Buffer.from(String(marker), 'base64url').toString('utf8');
  const match = /^offset:(\d+)$/.exec(text);
  if (!match || Number(match[1]) > total) throw invalidInput('Invalid Marker.');
  return Number(match[1]);
}

interface SimulationInput {
  ActionNames?: unknown;
  ResourceArns?: unknown;
  PolicyInputList?: unknown;
  PermissionsBoundaryPolicyInputList?: unknown;
  ResourcePolicy?: string;
  ResourceOwner?: string;
  CallerArn?: string;
  ContextEntries?: ContextEntryInput[];
  MaxItems?: string;
  Marker?: string;
}

function accountOfArn(arn: string | undefined): string | undefined {
  return arn ? /^arn:[^:]*:[^:]*:[^:]*:(\d{12}):/.exec(arn)?.[1] : undefined;
}

/** Runs each action on each resource and pages the results as IAM does. */
async function runSimulations(
  ctx: EmulatorContext,
  input: SimulationInput,
  base: { principalArn: string; identity: SourcePolicy[]; boundary?: SourcePolicy[]; context: ContextValues },
) {
  const actions = asList<string>(input.ActionNames);
  if (actions.length === 0) throw invalidInput('ActionNames must contain at least one action.');
  const explicitResources = asList<string>(input.ResourceArns);
  const resources = explicitResources.length > 0 ? explicitResources : ['*'];
  const resourcePolicy = input.ResourcePolicy
    ? sourcePolicy('ResourcePolicy', 'resource', input.ResourcePolicy)
    : undefined;
  const resourceAccount = input.ResourceOwner
    ? (accountOfArn(input.ResourceOwner) ??
      (/^\d{12}$/.test(input.ResourceOwner) ? input.ResourceOwner : undefined))
    : ctx.accountId;
  if (!resourceAccount) throw invalidInput(`Invalid ResourceOwner: ${input.ResourceOwner}`);
  const limit = maxItems(input);

  const results: unknown[] = [];
  for (const action of actions) {
    for (const resource of resources) {
      const evaluation = await simulate({
        principalArn: base.principalArn,
        action,
        resourceArn: resource,
        resourceAccount,
        identity: base.identity,
        boundary: base.boundary,
        resourcePolicy,
        context: base.context,
      });
      const result: Record<string, unknown> = {
        EvalActionName: action,
        EvalResourceName: resource,
        EvalDecision: evaluation.decision,
        MatchedStatements: evaluation.matchedStatements,
        MissingContextValues: evaluation.missingContextValues,
      };
      if (evaluation.allowedByPermissionsBoundary !== undefined)
        result.PermissionsBoundaryDecisionDetail = {
          AllowedByPermissionsBoundary: evaluation.allowedByPermissionsBoundary,
        };
      if (explicitResources.length > 0) {
        result.ResourceSpecificResults = [
          {
            EvalResourceName: resource,
            EvalResourceDecision: evaluation.decision,
            MatchedStatements: evaluation.matchedStatements,
            MissingContextValues: evaluation.missingContextValues,
          },
        ];
      }
      results.push(result);
    }
  }
  const offset = markerOffset(input.Marker, results.length);
  const page = results.slice(offset, offset + limit);
  const next = offset + page.length;
  return {
    EvaluationResults: page,
    IsTruncated: next < results.length,
    ...(next < results.length ? { Marker: Buffer.from(`offset:${next}`).toString('base64url') } : {}),
  };
}

function inputPolicies(list: unknown, prefix: string): SourcePolicy[] {
  return asList<string>(list).map((text, i) => sourcePolicy(`${prefix}.${i + 1}`, 'none', text));
}

export const iamSimulation: Record<string, OperationHandler> = {
  async SimulatePrincipalPolicy(call: AwsCall, ctx: EmulatorContext) {
    const input = call.input as SimulationInput & { PolicySourceArn?: string };
    if (!input.PolicySourceArn) throw invalidInput('PolicySourceArn is required.');
    const principal = await loadPrincipalPolicies(ctx, input.PolicySourceArn);
    const boundaryInput = inputPolicies(
      input.PermissionsBoundaryPolicyInputList,
      'PermissionsBoundaryPolicyInputList',
    );
    return runSimulations(ctx, input, {
      // A group is not a caller; its members are, and CallerArn may name one.
      principalArn: principal.kind === 'group' ? (input.CallerArn ?? principal.arn) : principal.arn,
      identity: [...principal.identity, ...inputPolicies(input.PolicyInputList, 'PolicyInputList')],
      // A boundary given in the input replaces the attached one for the simulation, as IAM documents.
      boundary: boundaryInput.length > 0 ? boundaryInput : principal.boundary,
      context: { ...principalContext(ctx.accountId, principal), ...contextFromEntries(input.ContextEntries) },
    });
  },

  async SimulateCustomPolicy(call: AwsCall, ctx: EmulatorContext) {
    const input = call.input as SimulationInput;
    const identity = inputPolicies(input.PolicyInputList, 'PolicyInputList');
    if (identity.length === 0) throw invalidInput('PolicyInputList must contain at least one policy.');
    const boundary = inputPolicies(
      input.PermissionsBoundaryPolicyInputList,
      'PermissionsBoundaryPolicyInputList',
    );
    const callerArn = input.CallerArn ?? `arn:aws:iam::${ctx.accountId}:root`;
    const caller = PRINCIPAL_ARN.exec(callerArn);
    const callerContext =
      caller && caller[2] === 'user'
        ? principalContext(ctx.accountId, { arn: callerArn, kind: 'user', name: caller[3]! })
        : {};
    return runSimulations(ctx, input, {
      principalArn: callerArn,
      identity,
      boundary: boundary.length > 0 ? boundary : undefined,
      context: { ...callerContext, ...contextFromEntries(input.ContextEntries) },
    });
  },
};
