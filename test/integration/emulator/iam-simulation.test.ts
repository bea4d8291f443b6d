import {
  AddUserToGroupCommand,
  AttachRolePolicyCommand,
  AttachUserPolicyCommand,
  CreateGroupCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateRoleCommand,
  CreateUserCommand,
  IAMClient,
  PutGroupPolicyCommand,
  PutUserPolicyCommand,
  PutRolePolicyCommand,
  SimulateCustomPolicyCommand,
  SimulatePrincipalPolicyCommand,
  type ContextEntry,
} from '@aws-sdk/client-iam';
import { emulatorClientConfig, useEmulator } from '../../helpers/emulator.js';

const ACCOUNT = '123456789012';
const USER = 'MyWorkshopUser';
const USER_ARN = `arn:aws:iam::${ACCOUNT}:user/${USER}`;
const EC2_ARN = `arn:aws:ec2:us-east-1:${ACCOUNT}:instance/i-0123456789abcdef0`;
const MI_ARN = `arn:aws:ssm:us-east-1:${ACCOUNT}:managed-instance/mi-0123456789abcdef0`;

/** The seed's SSMDevAccess policy, verbatim (its Deny covers EC2 instances only). */
const SSM_DEV_ACCESS = `{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "ssm:DescribeSessions",
                "ssm:GetConnectionStatus",
                "ssm:DescribeInstanceProperties",
                "ec2:DescribeInstances",
                "ssm:StartSession"
            ],
            "Resource": "*"
        },
        {
            "Sid": "ReadAlltheSSMThings",
            "Effect": "Allow",
            "Action": [
                "ssm:Get*",
                "ssm:Describe*",
                "ssm:List*"
            ],
            "Resource": "*"
        },
        {
            "Sid": "SameUserTerminate",
            "Effect": "Allow",
            "Action": "ssm:TerminateSession",
            "Resource": "arn:aws:ssm:*:*:session/\${aws:username}-*"
        },
        {
            "Sid": "DenySMtoProd",
            "Effect": "Deny",
            "Action": "ssm:StartSession",
            "Resource": [
                "arn:aws:ec2:*:*:instance/*"
            ],
            "Condition": {
                "StringLike": {
                    "ssm:resourceTag/Environment": "Prod"
                }
            }
        }
    ]
}`;

/** The corrected policy: the Deny also covers hybrid nodes (facts 5.2). */
const CORRECTED = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: ['ssm:StartSession', 'ssm:DescribeSessions'], Resource: '*' },
    {
      Sid: 'DenySMtoProd',
      Effect: 'Deny',
      Action: 'ssm:StartSession',
      Resource: ['arn:aws:ec2:*:*:instance/*', 'arn:aws:ssm:*:*:managed-instance/*'],
      Condition: { StringEquals: { 'ssm:resourceTag/Environment': 'Prod' } },
    },
  ],
});

const TRUST_EC2 = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
});

const env = (value: string): ContextEntry[] => [
  { ContextKeyName: 'ssm:resourceTag/Environment', ContextKeyValues: [value], ContextKeyType: 'string' },
];

describe('IAM policy simulation', () => {
  const emulator = useEmulator({ time: { scale: 0.001 } });
  const iam = () => new IAMClient(emulatorClientConfig(emulator()));
  let policyArn: string;

  beforeAll(async () => {
    await iam().send(new CreateUserCommand({ UserName: USER }));
    const created = await iam().send(
      new CreatePolicyCommand({ PolicyName: 'SSMDevAccess', PolicyDocument: SSM_DEV_ACCESS }),
    );
    policyArn = created.Policy!.Arn!;
    await iam().send(new AttachUserPolicyCommand({ UserName: USER, PolicyArn: policyArn }));
  });

  const simulate = async (
    ResourceArns: string[],
    ContextEntries: ContextEntry[],
    ActionNames = ['ssm:StartSession'],
  ) =>
    (
      await iam().send(
        new SimulatePrincipalPolicyCommand({
          PolicySourceArn: USER_ARN,
          ActionNames,
          ResourceArns,
          ContextEntries,
        }),
      )
    ).EvaluationResults ?? [];

  it("evaluates the seed's SSMDevAccess: EC2 Prod denied, EC2 Dev allowed, Prod hybrid node allowed (the gap)", async () => {
    const [prod] = await simulate([EC2_ARN], env('Prod'));
    expect(prod).toMatchObject({
      EvalActionName: 'ssm:StartSession',
      EvalResourceName: EC2_ARN,
      EvalDecision: 'explicitDeny',
    });
    expect(prod!.MatchedStatements).toEqual([
      expect.objectContaining({ SourcePolicyId: 'SSMDevAccess', SourcePolicyType: 'user-managed' }),
    ]);
    // The Deny statement is the fourth one; its span in the stored document points at it.
    const deny = prod!.MatchedStatements![0]!;
    const lines = SSM_DEV_ACCESS.split('\n');
    expect(lines[deny.StartPosition!.Line! - 1]!.slice(deny.StartPosition!.Column! - 1)).toBe('{');
    expect(lines.slice(deny.StartPosition!.Line! - 1, deny.EndPosition!.Line!).join('\n')).toContain(
      'DenySMtoProd',
    );

    const [dev] = await simulate([EC2_ARN], env('Dev'));
    expect(dev!.EvalDecision).toBe('allowed');
    expect(dev!.MatchedStatements!.map((s) => s.SourcePolicyId)).toEqual(['SSMDevAccess']);

    const [hybrid] = await simulate([MI_ARN], env('Prod'));
    expect(hybrid!.EvalDecision).toBe('allowed');
  });

  it('reports the context keys a decision depends on when they are missing', async () => {
    const [result] = await simulate([EC2_ARN], []);
    expect(result!.EvalDecision).toBe('allowed');
    expect(result!.MissingContextValues).toEqual(['ssm:resourceTag/Environment']);
  });

  it('resolves ${aws:username} from the simulated user', async () => {
    const results = await simulate(
      [
        `arn:aws:ssm:us-east-1:${ACCOUNT}:session/${USER}-0123456789abcdef0`,
        `arn:aws:ssm:us-east-1:${ACCOUNT}:session/someone-else-0123`,
      ],
      [],
      ['ssm:TerminateSession'],
    );
    expect(results.map((r) => r.EvalDecision)).toEqual(['allowed', 'implicitDeny']);
    expect(results[1]).toMatchObject({ MatchedStatements: [], MissingContextValues: [] });
  });

  it('denies the Prod hybrid node once the Deny also covers managed-instance/*', async () => {
    await iam().send(
      new CreatePolicyVersionCommand({ PolicyArn: policyArn, PolicyDocument: CORRECTED, SetAsDefault: true }),
    );
    const results = await simulate([EC2_ARN, MI_ARN], env('Prod'));
    expect(results.map((r) => [r.EvalResourceName, r.EvalDecision])).toEqual([
      [EC2_ARN, 'explicitDeny'],
      [MI_ARN, 'explicitDeny'],
    ]);
    const [dev] = await simulate([MI_ARN], env('Dev'));
    expect(dev!.EvalDecision).toBe('allowed');
    await iam().send(
      new CreatePolicyVersionCommand({
        PolicyArn: policyArn,
        PolicyDocument: SSM_DEV_ACCESS,
        SetAsDefault: true,
      }),
    );
  });

  it("includes groups' and inline policies, roles, PolicyInputList and permissions boundaries", async () => {
    await iam().send(new CreateUserCommand({ UserName: 'grouped' }));
    await iam().send(new CreateGroupCommand({ GroupName: 'ops' }));
    await iam().send(new AddUserToGroupCommand({ GroupName: 'ops', UserName: 'grouped' }));
    await iam().send(
      new PutGroupPolicyCommand({
        GroupName: 'ops',
        PolicyName: 'ops-logs',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 'logs:*', Resource: '*' }],
        }),
      }),
    );
    const grouped = await iam().send(
      new SimulatePrincipalPolicyCommand({
        PolicySourceArn: `arn:aws:iam::${ACCOUNT}:user/grouped`,
        ActionNames: ['logs:GetLogEvents', 'ssm:StartSession'],
      }),
    );
    expect(
      grouped.EvaluationResults!.map((r) => [r.EvalActionName, r.EvalResourceName, r.EvalDecision]),
    ).toEqual([
      ['logs:GetLogEvents', '*', 'allowed'],
      ['ssm:StartSession', '*', 'implicitDeny'],
    ]);
    expect(grouped.EvaluationResults![0]!.MatchedStatements).toEqual([
      expect.objectContaining({ SourcePolicyId: 'ops-logs', SourcePolicyType: 'group' }),
    ]);

    // A policy given in the input adds to the stored ones.
    const withInput = await iam().send(
      new SimulatePrincipalPolicyCommand({
        PolicySourceArn: `arn:aws:iam::${ACCOUNT}:user/grouped`,
        ActionNames: ['ssm:StartSession'],
        PolicyInputList: [
          JSON.stringify({
            Version: '2012-10-17',
            Statement: [{ Effect: 'Allow', Action: 'ssm:*', Resource: '*' }],
          }),
        ],
      }),
    );
    expect(withInput.EvaluationResults![0]).toMatchObject({
      EvalDecision: 'allowed',
      MatchedStatements: [
        expect.objectContaining({ SourcePolicyId: 'PolicyInputList.1', SourcePolicyType: 'none' }),
      ],
    });

    // A boundary limits what the identity policies grant.
    const boundary = await iam().send(
      new CreatePolicyCommand({
        PolicyName: 'only-logs',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 'logs:*', Resource: '*' }],
        }),
      }),
    );
    // moto keeps boundaries on roles (not on users), so the boundary case uses a role.
    await iam().send(
      new CreateRoleCommand({
        RoleName: 'bounded',
        AssumeRolePolicyDocument: TRUST_EC2,
        PermissionsBoundary: boundary.Policy!.Arn!,
      }),
    );
    await iam().send(new AttachRolePolicyCommand({ RoleName: 'bounded', PolicyArn: policyArn }));
    const [bounded] = (
      await iam().send(
        new SimulatePrincipalPolicyCommand({
          PolicySourceArn: `arn:aws:iam::${ACCOUNT}:role/bounded`,
          ActionNames: ['ssm:StartSession'],
          ResourceArns: [EC2_ARN],
          ContextEntries: env('Dev'),
        }),
      )
    ).EvaluationResults!;
    expect(bounded).toMatchObject({
      EvalDecision: 'implicitDeny',
      PermissionsBoundaryDecisionDetail: { AllowedByPermissionsBoundary: false },
    });

    await iam().send(
      new CreateRoleCommand({
        RoleName: 'operator',
        AssumeRolePolicyDocument: TRUST_EC2,
      }),
    );
    await iam().send(
      new PutRolePolicyCommand({
        RoleName: 'operator',
        PolicyName: 'sessions',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 'ssm:StartSession', Resource: MI_ARN }],
        }),
      }),
    );
    const role = await iam().send(
      new SimulatePrincipalPolicyCommand({
        PolicySourceArn: `arn:aws:iam::${ACCOUNT}:role/operator`,
        ActionNames: ['ssm:StartSession'],
        ResourceArns: [MI_ARN, EC2_ARN],
      }),
    );
    expect(role.EvaluationResults!.map((r) => r.EvalDecision)).toEqual(['allowed', 'implicitDeny']);
    expect(role.EvaluationResults![0]!.MatchedStatements![0]).toMatchObject({
      SourcePolicyId: 'sessions',
      SourcePolicyType: 'role',
    });
  });

  it("puts the principal's tags in the context (aws:PrincipalTag)", async () => {
    const abac = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: 'ssm:StartSession',
          Resource: '*',
          Condition: { StringEquals: { 'ssm:resourceTag/Team': '${aws:PrincipalTag/Team}' } },
        },
      ],
    });
    await iam().send(new CreateUserCommand({ UserName: 'tagged', Tags: [{ Key: 'Team', Value: 'blue' }] }));
    await iam().send(
      new PutUserPolicyCommand({ UserName: 'tagged', PolicyName: 'abac', PolicyDocument: abac }),
    );
    const decide = async (team: string) =>
      (
        await iam().send(
          new SimulatePrincipalPolicyCommand({
            PolicySourceArn: `arn:aws:iam::${ACCOUNT}:user/tagged`,
            ActionNames: ['ssm:StartSession'],
            ResourceArns: [EC2_ARN],
            ContextEntries: [
              { ContextKeyName: 'ssm:resourceTag/Team', ContextKeyValues: [team], ContextKeyType: 'string' },
            ],
          }),
        )
      ).EvaluationResults![0]!.EvalDecision;
    expect(await decide('blue')).toBe('allowed');
    expect(await decide('red')).toBe('implicitDeny');
  });

  it('pages results with MaxItems and Marker', async () => {
    const input = {
      PolicySourceArn: USER_ARN,
      ActionNames: ['ssm:StartSession', 'ssm:DescribeSessions', 'ssm:TerminateSession'],
      MaxItems: 2,
    };
    const first = await iam().send(new SimulatePrincipalPolicyCommand(input));
    expect(first.IsTruncated).toBe(true);
    expect(first.EvaluationResults).toHaveLength(2);
    const second = await iam().send(new SimulatePrincipalPolicyCommand({ ...input, Marker: first.Marker }));
    expect(second.IsTruncated).toBe(false);
    expect(second.EvaluationResults!.map((r) => r.EvalActionName)).toEqual(['ssm:TerminateSession']);
  });

  it('simulates custom policies with context entries', async () => {
    const response = await iam().send(
      new SimulateCustomPolicyCommand({
        PolicyInputList: [SSM_DEV_ACCESS],
        ActionNames: ['ssm:StartSession'],
        ResourceArns: [EC2_ARN, MI_ARN],
        ContextEntries: env('Prod'),
      }),
    );
    expect(response.EvaluationResults!.map((r) => [r.EvalResourceName, r.EvalDecision])).toEqual([
      [EC2_ARN, 'explicitDeny'],
      [MI_ARN, 'allowed'],
    ]);
    expect(response.EvaluationResults![0]!.MatchedStatements![0]).toMatchObject({
      SourcePolicyId: 'PolicyInputList.1',
      SourcePolicyType: 'none',
    });
    const listValued = await iam().send(
      new SimulateCustomPolicyCommand({
        PolicyInputList: [
          JSON.stringify({
            Version: '2012-10-17',
            Statement: [
              {
                Effect: 'Allow',
                Action: 'ssm:StartSession',
                Resource: '*',
                Condition: { 'ForAnyValue:StringEquals': { 'aws:TagKeys': ['team'] } },
              },
            ],
          }),
        ],
        ActionNames: ['ssm:StartSession'],
        ContextEntries: [
          { ContextKeyName: 'aws:TagKeys', ContextKeyValues: ['env', 'team'], ContextKeyType: 'stringList' },
        ],
      }),
    );
    expect(listValued.EvaluationResults![0]).toMatchObject({
      EvalResourceName: '*',
      EvalDecision: 'allowed',
    });
  });

  it('answers NoSuchEntity for unknown principals and InvalidInput for malformed input', async () => {
    await expect(
      iam().send(
        new SimulatePrincipalPolicyCommand({
          PolicySourceArn: `arn:aws:iam::${ACCOUNT}:user/nobody`,
          ActionNames: ['ssm:StartSession'],
        }),
      ),
    ).rejects.toMatchObject({ name: 'NoSuchEntityException', $metadata: { httpStatusCode: 404 } });
    await expect(
      iam().send(
        new SimulatePrincipalPolicyCommand({
          PolicySourceArn: 'not-an-arn',
          ActionNames: ['ssm:StartSession'],
        }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidInputException' });
    await expect(
      iam().send(
        new SimulatePrincipalPolicyCommand({ PolicySourceArn: USER_ARN, ActionNames: ['StartSession'] }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidInputException' });
    await expect(
      iam().send(
        new SimulateCustomPolicyCommand({
          PolicyInputList: ['{"Statement": ['],
          ActionNames: ['ssm:StartSession'],
        }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidInputException' });
    await expect(
      iam().send(
        new SimulateCustomPolicyCommand({
          PolicyInputList: [
            JSON.stringify({
              Version: '2012-10-17',
              Statement: [{ Effect: 'Maybe', Action: '*', Resource: '*' }],
            }),
          ],
          ActionNames: ['ssm:StartSession'],
        }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidInputException' });
    await expect(
      iam().send(
        new SimulateCustomPolicyCommand({
          PolicyInputList: [SSM_DEV_ACCESS],
          ActionNames: ['ssm:StartSession'],
          ContextEntries: [
            {
              ContextKeyName: 'aws:MultiFactorAuthPresent',
              ContextKeyValues: ['yes'],
              ContextKeyType: 'boolean',
            },
          ],
        }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidInputException' });
  });
});
