// AGPL-licensed: used by the local emulator only, never bundled into a Lambda (see local-tools.md).
import {
  runSimulation,
  runUnsafeSimulation,
  type RequestAnalysis,
  type Simulation,
} from '@cloud-copilot/iam-simulate';
import {
  invalidInput,
  type ContextValues,
  type Decision,
  type Evaluation,
  type MatchedStatement,
  type SourcePolicy,
} from './policies.js';

/** Evaluating one request on a set of policies with @cloud-copilot/iam-simulate, as AWS would. */

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
