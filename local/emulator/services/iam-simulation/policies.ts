import { AwsError } from '../../protocol.js';
import { decodePolicyText, statementSpans, type Position, type StatementSpan } from '../policy-text.js';

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

export const noSuchEntity = (message: string) => new AwsError('NoSuchEntity', message, 404);
export const invalidInput = (message: string) => new AwsError('InvalidInput', message, 400);

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
