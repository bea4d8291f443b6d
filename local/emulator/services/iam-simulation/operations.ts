import type { EmulatorContext, OperationHandler } from '../../context.js';
import type { AwsCall } from '../../protocol.js';
import { invalidInput, sourcePolicy, type ContextValues, type SourcePolicy } from './policies.js';
import { simulate } from './simulate.js';
import { PRINCIPAL_ARN, loadPrincipalPolicies, principalContext } from './stored-policies.js';

/** The IAM operations SimulatePrincipalPolicy and SimulateCustomPolicy, on the evaluator in simulate.ts. */

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
