import {
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetRolePolicyCommand,
  IAMClient,
  ListAttachedRolePoliciesCommand,
  ListRolePoliciesCommand,
} from '@aws-sdk/client-iam';
import type { EmulatorContext } from '../context.js';

/**
 * What a simulated host's role may do, read from the policies stored in moto. The fleet asks two
 * questions only (may the agent call ssm:UpdateInstanceInformation, may the CLI call
 * ssm:GetParameter on one parameter), so a small Allow/Deny evaluator on actions and resources is
 * enough here; full policy simulation with condition keys is the IAM simulation module's job.
 */

interface Statement {
  Effect?: string;
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Condition?: unknown;
}

/** IAM returns policy documents URL-encoded; moto sometimes returns them plain. */
export function parsePolicyDocument(text: string | undefined): Statement[] {
  if (!text) return [];
  let doc: { Statement?: Statement | Statement[] };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch {
    doc = JSON.parse(decodeURIComponent(text)) as typeof doc;
  }
  const statements = doc.Statement ?? [];
  return Array.isArray(statements) ? statements : [statements];
}

const list = (value: string | string[] | undefined): string[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** IAM wildcards: `*` any run, `?` one character; actions compare case-insensitively. */
function globMatch(pattern: string, value: string, ignoreCase: boolean): boolean {
  const source = pattern
    .split('')
    .map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`, ignoreCase ? 'i' : '').test(value);
}

function applies(statement: Statement, action: string, resource: string): boolean {
  const actionHit =
    statement.Action !== undefined
      ? list(statement.Action).some((p) => globMatch(p, action, true))
      : statement.NotAction !== undefined &&
        !list(statement.NotAction).some((p) => globMatch(p, action, true));
  if (!actionHit) return false;
  if (statement.Resource !== undefined)
    return list(statement.Resource).some((p) => globMatch(p, resource, false));
  if (statement.NotResource !== undefined)
    return !list(statement.NotResource).some((p) => globMatch(p, resource, false));
  return false;
}

/**
 * Allowed when some statement allows and none denies. Conditions are not evaluated: a conditional
 * Allow counts (conditions in the lab's roles only narrow to the lab's own resources) and a
 * conditional Deny does not, so the answer errs towards what the lab's roles are meant to do.
 */
export function statementsAllow(statements: Statement[], action: string, resource: string): boolean {
  let allowed = false;
  for (const statement of statements) {
    if (!applies(statement, action, resource)) continue;
    if (statement.Effect === 'Deny' && statement.Condition === undefined) return false;
    if (statement.Effect === 'Allow') allowed = true;
  }
  return allowed;
}

/** AWS managed policies never change, so their documents are read once per emulator. */
const managedDocs = (ctx: EmulatorContext) => ctx.slice('role-permissions:aws-managed', () => new Map());

async function attachedDocument(
  ctx: EmulatorContext,
  iam: IAMClient,
  policyArn: string,
): Promise<Statement[]> {
  const awsManaged = policyArn.startsWith('arn:aws:iam::aws:policy/');
  const cache = managedDocs(ctx) as Map<string, Statement[]>;
  if (awsManaged && cache.has(policyArn)) return cache.get(policyArn)!;
  const { Policy } = await iam.send(new GetPolicyCommand({ PolicyArn: policyArn }));
  const { PolicyVersion } = await iam.send(
    new GetPolicyVersionCommand({ PolicyArn: policyArn, VersionId: Policy?.DefaultVersionId }),
  );
  const statements = parsePolicyDocument(PolicyVersion?.Document);
  if (awsManaged) cache.set(policyArn, statements);
  return statements;
}

/** Every statement of the role's attached and inline policies (global service: any region's client). */
export async function roleStatements(ctx: EmulatorContext, roleName: string): Promise<Statement[]> {
  const iam = ctx.moto(IAMClient, 'us-east-1');
  const statements: Statement[] = [];
  const attached = await iam.send(
    new ListAttachedRolePoliciesCommand({ RoleName: roleName, MaxItems: 1000 }),
  );
  for (const policy of attached.AttachedPolicies ?? []) {
    if (policy.PolicyArn) statements.push(...(await attachedDocument(ctx, iam, policy.PolicyArn)));
  }
  const inline = await iam.send(new ListRolePoliciesCommand({ RoleName: roleName, MaxItems: 1000 }));
  for (const name of inline.PolicyNames ?? []) {
    const { PolicyDocument } = await iam.send(
      new GetRolePolicyCommand({ RoleName: roleName, PolicyName: name }),
    );
    statements.push(...parsePolicyDocument(PolicyDocument));
  }
  return statements;
}

/**
 * IAM answers the fleet reuses for a moment: real IAM changes also take a while to reach instances
 * (eventual consistency), and each moto read costs tens of milliseconds, so polling
 * DescribeInstanceInformation or a script's many `aws` calls must not repeat them every time.
 */
export const IAM_REUSE_MS = 1000;

export function reuseIamRead<T>(ctx: EmulatorContext, key: string, read: () => Promise<T>): Promise<T> {
  const cache = ctx.slice(
    'role-permissions:reuse',
    () => new Map<string, { at: number; value: Promise<unknown> }>(),
  );
  const hit = cache.get(key);
  if (hit && Date.now() - hit.at < IAM_REUSE_MS) return hit.value as Promise<T>;
  const value = read();
  cache.set(key, { at: Date.now(), value });
  value.catch(() => cache.delete(key));
  return value;
}

/** Whether the role's identity policies allow `action` on `resource`; false when the role is gone. */
export async function roleAllows(
  ctx: EmulatorContext,
  roleName: string,
  action: string,
  resource: string,
): Promise<boolean> {
  try {
    const statements = await reuseIamRead(ctx, `statements:${roleName}`, () => roleStatements(ctx, roleName));
    return statementsAllow(statements, action, resource);
  } catch (err) {
    if ((err as Error).name === 'NoSuchEntityException' || (err as Error).name === 'NoSuchEntity')
      return false;
    throw err;
  }
}
