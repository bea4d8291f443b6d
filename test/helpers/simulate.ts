import { runSimulation } from '@cloud-copilot/iam-simulate';
import { ACCOUNT } from './aws-mock.js';

/** IAM's SimulatePrincipalPolicy decisions. */
export type EvalDecision = 'allowed' | 'explicitDeny' | 'implicitDeny';

const DECISIONS: Record<string, EvalDecision> = {
  Allowed: 'allowed',
  ExplicitlyDenied: 'explicitDeny',
  ImplicitlyDenied: 'implicitDeny',
};

/**
 * Evaluates identity policies for one request with @cloud-copilot/iam-simulate (a real IAM policy
 * evaluator; AGPL, so tests and the local emulator only), answering as SimulatePrincipalPolicy does.
 */
export async function simulate(
  policies: object[],
  action: string,
  resource: string,
  context: Record<string, string | string[]> = {},
  principal = `arn:aws:iam::${ACCOUNT}:user/MyWorkshopUser-demo`,
): Promise<EvalDecision> {
  const result = await runSimulation(
    {
      request: {
        principal,
        action,
        resource: { resource, accountId: ACCOUNT },
        contextVariables: { 'aws:username': principal.split('/').at(-1)!, ...context },
      },
      identityPolicies: policies.map((policy, i) => ({ name: `policy-${i}`, policy })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    } as never,
    {},
  );
  const outcome = (result as { result?: { analysis?: { result?: string } }; errors?: unknown }).result
    ?.analysis?.result;
  const decision = outcome && DECISIONS[outcome];
  if (!decision) throw new Error(`simulation failed: ${JSON.stringify(result).slice(0, 500)}`);
  return decision;
}

/** The tag context a node's real tags give a StartSession request (both condition key spellings). */
export function tagContext(tags: Record<string, string>): Record<string, string> {
  const context: Record<string, string> = {};
  for (const [key, value] of Object.entries(tags)) {
    context[`ssm:resourceTag/${key}`] = value;
    context[`aws:ResourceTag/${key}`] = value;
  }
  return context;
}
