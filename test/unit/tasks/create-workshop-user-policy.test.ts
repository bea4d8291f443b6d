import { workshopUserPolicy } from '../../../functions/create-workshop-user/policy.js';
import { ACCOUNT } from '../../helpers/aws-mock.js';
import { simulate, tagContext } from '../../helpers/simulate.js';

const ec2 = (id: string) => `arn:aws:ec2:us-east-1:${ACCOUNT}:instance/${id}`;
const hybrid = (id: string) => `arn:aws:ssm:us-east-1:${ACCOUNT}:managed-instance/${id}`;
const LAB = { 'session-lab:lab-id': 'demo' };

const NODES = {
  DevEC2Instance: [ec2('i-0aaaaaaaaaaaaaaa1'), { ...LAB, Environment: 'Dev' }],
  ProdEC2Instance: [ec2('i-0aaaaaaaaaaaaaaa2'), { ...LAB, Environment: 'Prod' }],
  DevOnPrem: [hybrid('mi-0aaaaaaaaaaaaaaa3'), { ...LAB, Environment: 'Dev' }],
  ProdOnPrem: [hybrid('mi-0aaaaaaaaaaaaaaa4'), { ...LAB, Environment: 'Prod' }],
  Bootstrap: [ec2('i-0aaaaaaaaaaaaaaa5'), { ...LAB, Environment: 'Bootstrap' }],
  OtherLabDev: [hybrid('mi-0bbbbbbbbbbbbbbb1'), { 'session-lab:lab-id': 'other', Environment: 'Dev' }],
  LowercaseProd: [hybrid('mi-0aaaaaaaaaaaaaaa6'), { ...LAB, Environment: 'prod' }],
} as const;

async function startSession(mode: 'strict' | 'seed', node: keyof typeof NODES) {
  const [arn, tags] = NODES[node];
  return simulate([workshopUserPolicy(mode, 'demo', 'aws')], 'ssm:StartSession', arn, tagContext(tags));
}

describe('workshopUserPolicy, evaluated by an IAM policy simulator', () => {
  it.each([
    ['DevEC2Instance', 'allowed'],
    ['DevOnPrem', 'allowed'],
    ['ProdEC2Instance', 'explicitDeny'],
    ['ProdOnPrem', 'explicitDeny'],
    ['LowercaseProd', 'explicitDeny'],
    ['Bootstrap', 'implicitDeny'],
    ['OtherLabDev', 'implicitDeny'],
  ] as const)('strict: StartSession on %s -> %s', async (node, decision) => {
    await expect(startSession('strict', node)).resolves.toBe(decision);
  });

  it.each([
    ['DevEC2Instance', 'allowed'],
    ['DevOnPrem', 'allowed'],
    ['ProdEC2Instance', 'explicitDeny'],
    // The seed's gaps: the deny names only EC2 instance ARNs, and the allow is `*`.
    ['ProdOnPrem', 'allowed'],
    ['Bootstrap', 'allowed'],
    ['OtherLabDev', 'allowed'],
  ] as const)('seed: StartSession on %s -> %s', async (node, decision) => {
    await expect(startSession('seed', node)).resolves.toBe(decision);
  });

  it('strict: the session document is allowed, so a session on a Dev node can start', async () => {
    const doc = `arn:aws:ssm:us-east-1:${ACCOUNT}:document/SSM-SessionManagerRunShell`;
    await expect(
      simulate([workshopUserPolicy('strict', 'demo', 'aws')], 'ssm:StartSession', doc),
    ).resolves.toBe('allowed');
    const other = `arn:aws:ssm:us-east-1:${ACCOUNT}:document/AWS-StartPortForwardingSession`;
    await expect(
      simulate([workshopUserPolicy('strict', 'demo', 'aws')], 'ssm:StartSession', other),
    ).resolves.toBe('implicitDeny');
  });

  it.each(['strict', 'seed'] as const)('%s: terminate only your own sessions', async (mode) => {
    const session = (id: string) => `arn:aws:ssm:us-east-1:${ACCOUNT}:session/${id}`;
    const policy = [workshopUserPolicy(mode, 'demo', 'aws')];
    await expect(
      simulate(policy, 'ssm:TerminateSession', session('MyWorkshopUser-demo-0a1b2c3d')),
    ).resolves.toBe('allowed');
    await expect(simulate(policy, 'ssm:TerminateSession', session('SomeoneElse-0a1b2c3d'))).resolves.toBe(
      'implicitDeny',
    );
  });

  it('strict: the lab secrets in Parameter Store are denied; the seed let ssm:Get* read them', async () => {
    const parameter = `arn:aws:ssm:us-east-1:${ACCOUNT}:parameter/session-lab/demo/activation/Prod/code`;
    await expect(
      simulate([workshopUserPolicy('strict', 'demo', 'aws')], 'ssm:GetParameter', parameter),
    ).resolves.toBe('explicitDeny');
    await expect(
      simulate([workshopUserPolicy('seed', 'demo', 'aws')], 'ssm:GetParameter', parameter),
    ).resolves.toBe('allowed');
    const unrelated = `arn:aws:ssm:us-east-1:${ACCOUNT}:parameter/other-app/config`;
    await expect(
      simulate([workshopUserPolicy('strict', 'demo', 'aws')], 'ssm:GetParameter', unrelated),
    ).resolves.toBe('allowed');
  });

  it('seed mode is the seed document verbatim', () => {
    const seed = workshopUserPolicy('seed', 'ignored', 'aws');
    expect(seed.Statement).toHaveLength(4);
    expect(seed.Statement[3]).toEqual({
      Sid: 'DenySMtoProd',
      Effect: 'Deny',
      Action: 'ssm:StartSession',
      Resource: ['arn:aws:ec2:*:*:instance/*'],
      Condition: { StringLike: { 'ssm:resourceTag/Environment': 'Prod' } },
    });
    expect(seed.Statement[2]!.Resource).toBe('arn:aws:ssm:*:*:session/${aws:username}-*');
  });

  it('in a China Region denies Prod nodes by their aws-cn ARNs', async () => {
    const policy = workshopUserPolicy('strict', 'demo', 'aws-cn');
    expect(JSON.stringify(policy)).not.toContain('arn:aws:');
    const prod = `arn:aws-cn:ssm:cn-north-1:${ACCOUNT}:managed-instance/mi-0aaaaaaaaaaaaaaa4`;
    await expect(
      simulate([policy], 'ssm:StartSession', prod, tagContext({ ...LAB, Environment: 'Prod' })),
    ).resolves.toBe('explicitDeny');
    const dev = `arn:aws-cn:ec2:cn-north-1:${ACCOUNT}:instance/i-0aaaaaaaaaaaaaaa1`;
    await expect(
      simulate([policy], 'ssm:StartSession', dev, tagContext({ ...LAB, Environment: 'Dev' })),
    ).resolves.toBe('allowed');
  });

  it('fits the managed-policy size quota (6,144 characters without whitespace)', () => {
    for (const mode of ['strict', 'seed'] as const) {
      const size = JSON.stringify(workshopUserPolicy(mode, 'a'.repeat(32), 'aws')).replace(/\s/g, '').length;
      expect(size).toBeLessThan(6144);
    }
  });
});
