import { GetAccountPasswordPolicyCommand, IAMClient, type PasswordPolicy } from '@aws-sdk/client-iam';
import type { EmulatorContext, OperationHandler } from '../context.js';
import { AwsError, type AwsCall } from '../protocol.js';

/**
 * IAM's account password policy on CreateLoginProfile and UpdateLoginProfile, which moto stores
 * but does not enforce. A password the policy refuses is answered PasswordPolicyViolation, as IAM
 * does; without a custom policy the default one applies (at least 8 characters; facts sheet 1.3).
 */

const DEFAULT_POLICY: PasswordPolicy = { MinimumPasswordLength: 8 };

const CLASSES: [keyof PasswordPolicy, RegExp, string][] = [
  ['RequireUppercaseCharacters', /[A-Z]/, 'one uppercase letter'],
  ['RequireLowercaseCharacters', /[a-z]/, 'one lowercase letter'],
  ['RequireNumbers', /[0-9]/, 'one number'],
  ['RequireSymbols', /[^A-Za-z0-9]/, 'one symbol'],
];

async function accountPolicy(ctx: EmulatorContext): Promise<PasswordPolicy> {
  try {
    const out = await ctx.moto(IAMClient, 'us-east-1').send(new GetAccountPasswordPolicyCommand({}));
    return out.PasswordPolicy ?? DEFAULT_POLICY;
  } catch (err) {
    if ((err as Error).name === 'NoSuchEntityException') return DEFAULT_POLICY;
    throw err;
  }
}

/** What the policy finds wrong with `password`, in IAM's words; empty when it is accepted. */
export function passwordViolations(password: string, policy: PasswordPolicy): string[] {
  const minimum = policy.MinimumPasswordLength ?? DEFAULT_POLICY.MinimumPasswordLength!;
  const problems = password.length < minimum ? [`Password should have a minimum length of ${minimum}`] : [];
  for (const [rule, pattern, what] of CLASSES) {
    if (policy[rule] && !pattern.test(password)) problems.push(`Password should have at least ${what}`);
  }
  return problems;
}

const enforced: OperationHandler = async (call: AwsCall, ctx) => {
  const password = call.input.Password;
  if (typeof password === 'string') {
    const problems = passwordViolations(password, await accountPolicy(ctx));
    if (problems.length > 0) throw new AwsError('PasswordPolicyViolation', problems.join('; '));
  }
  return ctx.forward(call);
};

export const passwordPolicy: Record<string, OperationHandler> = {
  CreateLoginProfile: enforced,
  UpdateLoginProfile: enforced,
};
