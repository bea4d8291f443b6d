import { afterEach, describe, expect, it } from '@jest/globals';
import { ensureTemplate, type Template } from '../../../local/deployment/artifacts.js';
import { localStack } from '../../../local/deployment/local-stack.js';
import { startLambdaService, type LambdaService } from '../../../local/runner/lambda-service.js';
import { runLocally } from '../../../local/runner/runner.js';
import { SHORT_DELAYS, TEST_REGION, useEmulator } from '../../helpers/emulator.js';

const SCALE = 0.05;
/** An action no function of the lab calls: what a grant is replaced with. */
const UNRELATED = 'ssm:DescribeDocumentPermission';

type Statement = { Action: string | string[] };

/** A copy of `template` whose role `roleLogicalId` holds `UNRELATED` wherever it held `action`. */
function withoutAction(template: Template, roleLogicalId: string, action: string): Template {
  const copy = structuredClone(template);
  const documents: { Statement: Statement[] }[] = [];
  const role = copy.Resources[roleLogicalId]!.Properties as {
    Policies?: { PolicyDocument: { Statement: Statement[] } }[];
  };
  for (const policy of role.Policies ?? []) documents.push(policy.PolicyDocument);
  for (const resource of Object.values(copy.Resources)) {
    const p = resource.Properties as {
      Roles?: { Ref?: string }[];
      PolicyDocument?: { Statement: Statement[] };
    };
    if (resource.Type === 'AWS::IAM::Policy' && p.Roles?.some((r) => r.Ref === roleLogicalId))
      documents.push(p.PolicyDocument!);
  }
  let replaced = 0;
  for (const statement of documents.flatMap((d) => d.Statement)) {
    const actions = [statement.Action].flat();
    if (!actions.includes(action)) continue;
    statement.Action = actions.map((a) => (a === action ? UNRELATED : a));
    replaced += 1;
  }
  if (replaced === 0) throw new Error(`${roleLogicalId} holds no ${action}`);
  return copy;
}

/**
 * The local world enforces the template's grants: take one action away from one function's role
 * (or the state machine's) and provisioning fails on it, naming AccessDenied and the action, as it
 * would in an account.
 */
describe('provisioning under the template’s grants', () => {
  const emulator = useEmulator({ time: { scale: SCALE, ...SHORT_DELAYS } });
  let service: LambdaService | undefined;
  afterEach(async () => {
    await service?.stop();
    service = undefined;
  });

  const provisionWith = async (template: Template, labId: string) => {
    service = await startLambdaService({ endpoint: emulator().url, region: TEST_REGION, template });
    const run = await runLocally('provision-lab', {
      input: { labId },
      executionName: `${labId}-provision-1`,
      timeScale: SCALE,
      lambdaService: service,
    });
    return { ...run, text: `${run.error ?? ''} ${run.cause ?? ''}` };
  };

  it.each([
    ['create-instance-role', 'iam:CreateRole', 'AccessDenied'],
    ['create-key-pair', 'ssm:PutParameter', 'AccessDeniedException'],
    ['create-activations', 'ssm:CreateActivation', 'AccessDeniedException'],
    ['register-agents', 'ssm:SendCommand', 'AccessDeniedException'],
  ])(
    '%s without %s fails with %s naming the action',
    async (folder, action, code) => {
      const template = await ensureTemplate();
      const role = localStack(template, TEST_REGION).functions.get(folder)!.role.logicalId;
      const run = await provisionWith(withoutAction(template, role, action), `grant-${folder}`.slice(0, 32));
      expect(run.status).toBe('FAILED');
      expect(run.text).toContain(code);
      expect(run.text).toContain(`not authorized to perform: ${action}`);
    },
    180_000,
  );

  it('a state machine role without lambda:InvokeFunction fails the first Task, naming the action', async () => {
    const template = await ensureTemplate();
    const machine = localStack(template, TEST_REGION).stateMachines.get('SessionLab-provision-lab')!;
    const run = await provisionWith(
      withoutAction(template, machine.role.logicalId, 'lambda:InvokeFunction'),
      'grant-state-machine',
    );
    expect(run.status).toBe('FAILED');
    expect(run.text).toContain('AccessDeniedException');
    expect(run.text).toContain('not authorized to perform: lambda:InvokeFunction');
  }, 120_000);

  it('the unchanged template provisions the lab', async () => {
    const run = await provisionWith(await ensureTemplate(), 'grant-unchanged');
    expect([run.status, run.text]).toEqual(['SUCCEEDED', ' ']);
  }, 180_000);
});
