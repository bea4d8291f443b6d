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
  NonLabNode: [ec2('i-0cccccccccccccccc1'), { Environment: 'Dev' }],
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
    // The seed's gap, kept for teaching: the deny names only EC2 instance ARNs.
    ['ProdOnPrem', 'allowed'],
    // Scoped to the lab: the seed allowed `*`.
    ['Bootstrap', 'explicitDeny'],
    ['OtherLabDev', 'explicitDeny'],
    ['NonLabNode', 'explicitDeny'],
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

  const session = (id: string) => `arn:aws:ssm:us-east-1:${ACCOUNT}:session/${id}`;
  const stream = (group: string, id: string) =>
    `arn:aws:logs:us-east-1:${ACCOUNT}:log-group:${group}:log-stream:${id}`;

  it.each(['strict', 'seed'] as const)(
    '%s: the sessions of a lab whose id extends this one’s (demo-2 for demo) are denied',
    async (mode) => {
      const policy = [workshopUserPolicy(mode, 'demo', 'aws')];
      for (const action of ['ssm:TerminateSession', 'ssm:ResumeSession']) {
        if (mode === 'strict' || action === 'ssm:TerminateSession') {
          await expect(
            simulate(policy, action, session('MyWorkshopUser-demo-0a1b2c3d4e5f6a7b8')),
          ).resolves.toBe('allowed');
        }
        await expect(
          simulate(policy, action, session('MyWorkshopUser-demo-2-0a1b2c3d4e5f6a7b8')),
        ).resolves.toBe('explicitDeny');
        await expect(
          simulate(policy, action, session('MyWorkshopUser-demo-class-01-0a1b2c3d4e5f6a7b8')),
        ).resolves.toBe('explicitDeny');
      }
      // And the other way round: lab demo-2's user has nothing of lab demo's sessions.
      const demo2 = [workshopUserPolicy(mode, 'demo-2', 'aws')];
      await expect(
        simulate(
          demo2,
          'ssm:TerminateSession',
          session('MyWorkshopUser-demo-0a1b2c3d4e5f6a7b8'),
          {},
          `arn:aws:iam::${ACCOUNT}:user/MyWorkshopUser-demo-2`,
        ),
      ).resolves.toBe('implicitDeny');
    },
  );

  it.each(['strict', 'seed'] as const)(
    '%s: reads only the user’s own transcripts, in the lab’s log group, never the whole group',
    async (mode) => {
      const policy = [workshopUserPolicy(mode, 'demo', 'aws', '/session-lab/class')];
      const read = (resource: string, action = 'logs:GetLogEvents') => simulate(policy, action, resource);
      await expect(read(stream('/session-lab/class', 'MyWorkshopUser-demo-0a1b2c3d4e5f6a7b8'))).resolves.toBe(
        'allowed',
      );
      await expect(
        read(stream('/session-lab/class', 'MyWorkshopUser-demo-2-0a1b2c3d4e5f6a7b8')),
      ).resolves.toBe('explicitDeny');
      await expect(
        read(stream('/session-lab/class', 'MyWorkshopUser-other-0a1b2c3d4e5f6a7b8')),
      ).resolves.toBe('implicitDeny');
      await expect(read(stream('SSM-Logs', 'MyWorkshopUser-demo-0a1b2c3d4e5f6a7b8'))).resolves.toBe(
        'implicitDeny',
      );
      // Group-wide reads would show every student's transcripts.
      for (const action of ['logs:FilterLogEvents', 'logs:StartQuery', 'logs:StartLiveTail']) {
        await expect(read(stream('/session-lab/class', ''), action)).resolves.toBe('implicitDeny');
      }
      expect(JSON.stringify(workshopUserPolicy(mode, 'demo', 'aws'))).toContain(':log-group:SSM-Logs:');
    },
  );

  it('strict: GetParametersByPath is denied everywhere (a recursive read of / would bypass the deny)', async () => {
    const policy = [workshopUserPolicy('strict', 'demo', 'aws')];
    for (const path of ['session-lab', 'session-lab/demo', 'other-app']) {
      await expect(
        simulate(policy, 'ssm:GetParametersByPath', `arn:aws:ssm:us-east-1:${ACCOUNT}:parameter/${path}`),
      ).resolves.toBe('explicitDeny');
    }
    await expect(
      simulate(policy, 'ssm:GetParameter', `arn:aws:ssm:us-east-1:${ACCOUNT}:parameter/session-lab`),
    ).resolves.toBe('explicitDeny');
  });

  it('both modes: the lab secrets in Parameter Store are denied (the seed let ssm:Get* read every lab\u2019s)', async () => {
    for (const name of ['session-lab/demo/activation/Prod/code', 'session-lab/other/key-pair/private-key'])
      for (const mode of ['strict', 'seed'] as const)
        await expect(
          simulate(
            [workshopUserPolicy(mode, 'demo', 'aws')],
            'ssm:GetParameter',
            `arn:aws:ssm:us-east-1:${ACCOUNT}:parameter/${name}`,
          ),
        ).resolves.toBe('explicitDeny');
    const unrelated = `arn:aws:ssm:us-east-1:${ACCOUNT}:parameter/other-app/config`;
    await expect(
      simulate([workshopUserPolicy('strict', 'demo', 'aws')], 'ssm:GetParameter', unrelated),
    ).resolves.toBe('allowed');
  });

  it.each(['strict', 'seed'] as const)(
    "%s: the account's activations are not listed (the seed's ssm:Describe* would)",
    async (mode) => {
      await expect(
        simulate([workshopUserPolicy(mode, 'demo', 'aws')], 'ssm:DescribeActivations', '*'),
      ).resolves.toBe('explicitDeny');
    },
  );

  it('seed mode is the seed document verbatim, plus the own-transcripts grant, the session guard and the activations deny', () => {
    const seed = workshopUserPolicy('seed', 'ignored', 'aws');
    expect(seed.Statement.map((statement) => statement.Sid)).toEqual([
      undefined,
      'ReadAlltheSSMThings',
      'SameUserTerminate',
      'DenySMtoProd',
      'DenySessionsOutsideLab',
      'DenySessionsOutsideDevProd',
      'DenyLabSecrets',
      'DenyParameterTreeReads',
      'ReadOwnSessionTranscripts',
      'DenyLongerUserNamesSessions',
      'DenyActivations',
    ]);
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
