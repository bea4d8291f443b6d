import { decodePolicyText } from '../services/policy-text.js';

/**
 * A role's trust policy (AssumeRolePolicyDocument): whether it lets a principal (a service such as
 * lambda.amazonaws.com, or an IAM user or role session) call sts:AssumeRole. Statements are read
 * as IAM reads them: Effect, Principal / NotPrincipal, Action / NotAction and Condition; an
 * explicit Deny wins. A condition operator this module does not know is never met (so an Allow
 * that depends on it does not apply, and neither does such a Deny: both err towards refusing,
 * since nothing is allowed without an applicable Allow).
 */

export type TrustPrincipal =
  | { kind: 'service'; service: string }
  | {
      kind: 'aws';
      /** The caller's ARN: a user, the account root, or an assumed-role session. */
      arn: string;
      accountId: string;
      /** For a role session: its role's ARN (a trust policy may name the role itself). */
      roleArn?: string;
    };

export type TrustDecision = 'allowed' | 'explicitDeny' | 'implicitDeny';

interface Statement {
  Effect?: string;
  Principal?: unknown;
  NotPrincipal?: unknown;
  Action?: string | string[];
  NotAction?: string | string[];
  Condition?: Record<string, Record<string, unknown>>;
}

const list = (value: unknown): string[] =>
  value === undefined || value === null ? [] : (Array.isArray(value) ? value : [value]).map(String);

function glob(pattern: string, value: string, ignoreCase: boolean): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`, ignoreCase ? 'is' : 's').test(value);
}

/** Whether one Principal element value names this principal. */
function principalMatches(element: unknown, who: TrustPrincipal): boolean {
  if (element === '*') return true;
  if (!element || typeof element !== 'object') return false;
  const block = element as Record<string, unknown>;
  if (who.kind === 'service')
    return list(block.Service).some((s) => s.toLowerCase() === who.service.toLowerCase());
  return list(block.AWS).some((entry) => {
    if (entry === '*') return true;
    const root = `arn:aws:iam::${who.accountId}:root`;
    if (entry === who.accountId || entry === root) return true;
    if (entry === who.arn) return true;
    return who.roleArn !== undefined && entry === who.roleArn;
  });
}

const OPERATORS: Record<string, (actual: string, expected: string) => boolean> = {
  StringEquals: (a, e) => a === e,
  StringNotEquals: (a, e) => a !== e,
  StringEqualsIgnoreCase: (a, e) => a.toLowerCase() === e.toLowerCase(),
  StringNotEqualsIgnoreCase: (a, e) => a.toLowerCase() !== e.toLowerCase(),
  StringLike: (a, e) => glob(e, a, false),
  StringNotLike: (a, e) => !glob(e, a, false),
  ArnEquals: (a, e) => glob(e, a, false),
  ArnLike: (a, e) => glob(e, a, false),
  ArnNotEquals: (a, e) => !glob(e, a, false),
  ArnNotLike: (a, e) => !glob(e, a, false),
  Bool: (a, e) => a.toLowerCase() === e.toLowerCase(),
};

/** One condition block entry: an operator (with IfExists / ForAnyValue / ForAllValues) on a key. */
function conditionMet(
  operator: string,
  key: string,
  expected: unknown,
  context: Record<string, string>,
): boolean {
  const actualEntry = Object.entries(context).find(([k]) => k.toLowerCase() === key.toLowerCase());
  const actual = actualEntry?.[1];
  const values = list(expected);
  if (operator === 'Null') return values.some((v) => (v === 'true') === (actual === undefined));
  const base = operator.replace(/^(ForAnyValue|ForAllValues):/, '').replace(/IfExists$/, '');
  const test = OPERATORS[base];
  if (!test) return false;
  if (actual === undefined) return operator.endsWith('IfExists') || base.includes('Not');
  const negated = base.includes('Not');
  // A negated operator holds when the value matches none; the others when it matches any.
  return negated ? values.every((v) => test(actual, v)) : values.some((v) => test(actual, v));
}

function conditionsMet(condition: Statement['Condition'], context: Record<string, string>): boolean {
  for (const [operator, block] of Object.entries(condition ?? {})) {
    for (const [key, expected] of Object.entries(block ?? {})) {
      if (!conditionMet(operator, key, expected, context)) return false;
    }
  }
  return true;
}

function statementApplies(
  s: Statement,
  who: TrustPrincipal,
  action: string,
  context: Record<string, string>,
) {
  const principal =
    s.Principal !== undefined
      ? principalMatches(s.Principal, who)
      : s.NotPrincipal !== undefined && !principalMatches(s.NotPrincipal, who);
  if (!principal) return false;
  const actionHit =
    s.Action !== undefined
      ? list(s.Action).some((p) => glob(p, action, true))
      : s.NotAction !== undefined && !list(s.NotAction).some((p) => glob(p, action, true));
  return actionHit && conditionsMet(s.Condition, context);
}

/** Parses a trust policy as IAM returns it (URL-encoded or plain JSON); undefined when it is not one. */
export function parseTrustPolicy(text: string | undefined): Statement[] | undefined {
  if (!text) return undefined;
  try {
    const doc = JSON.parse(decodePolicyText(text)) as { Statement?: Statement | Statement[] };
    const statements = doc.Statement;
    return statements === undefined ? [] : Array.isArray(statements) ? statements : [statements];
  } catch {
    return undefined;
  }
}

/**
 * Whether the trust policy lets `who` perform `action` (sts:AssumeRole) given the request's
 * condition keys (aws:SourceAccount, aws:SourceArn, sts:ExternalId, aws:PrincipalArn, ...).
 */
export function evaluateTrust(
  statements: Statement[],
  who: TrustPrincipal,
  action: string,
  context: Record<string, string>,
): TrustDecision {
  let allowed = false;
  for (const s of statements) {
    if (!statementApplies(s, who, action, context)) continue;
    if (s.Effect === 'Deny') return 'explicitDeny';
    if (s.Effect === 'Allow') allowed = true;
  }
  return allowed ? 'allowed' : 'implicitDeny';
}
