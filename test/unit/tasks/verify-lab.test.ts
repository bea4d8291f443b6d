import { CloudWatchLogsClient, DescribeLogGroupsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  GetLoginProfileCommand,
  GetPolicyCommand,
  GetUserCommand,
  IAMClient,
  SimulatePrincipalPolicyCommand,
  type ContextEntry,
} from '@aws-sdk/client-iam';
import {
  DescribeInstanceInformationCommand,
  DescribeSessionsCommand,
  GetDocumentCommand,
  ListTagsForResourceCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { sessionPreferences } from '../../../functions/configure-session-logging/preferences.js';
import { workshopUserPolicy } from '../../../functions/create-workshop-user/policy.js';
import type { LabConfig } from '../../../functions/shared/lab-config.js';
import { verifyLab, type Input } from '../../../functions/verify-lab/task.js';
import { inputSchema } from '../../../functions/verify-lab/task.js';
import { ACCOUNT, awsError, inputsOf, testClients, testLab } from '../../helpers/aws-mock.js';
import { simulate } from '../../helpers/simulate.js';

const ec2 = mockClient(EC2Client);
const iam = mockClient(IAMClient);
const logs = mockClient(CloudWatchLogsClient);
const ssm = mockClient(SSMClient);

const NOW = new Date('2026-03-01T12:00:00Z');
const LONG_AGO = new Date('2026-03-01T10:00:00Z');
const USER = 'MyWorkshopUser-demo';
const USER_ARN = `arn:aws:iam::${ACCOUNT}:user/${USER}`;
const POLICY_ARN = `arn:aws:iam::${ACCOUNT}:policy/SSMDevAccess-demo`;
const SECRET_ARN = `arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:session-lab/demo/MyWorkshopUser-password-AbCdEf`;

const ids = {
  ProdEC2Instance: 'i-0aaaaaaaaaaaaaaa1',
  DevEC2Instance: 'i-0aaaaaaaaaaaaaaa2',
  ProdOnPremHost: 'i-0aaaaaaaaaaaaaaa3',
  DevOnPremHost: 'i-0aaaaaaaaaaaaaaa4',
  Bootstrap: 'i-0aaaaaaaaaaaaaaa5',
  ProdOnPrem: 'mi-0bbbbbbbbbbbbbbb1',
  DevOnPrem: 'mi-0bbbbbbbbbbbbbbb2',
  OtherLab: 'mi-0ccccccccccccccc1',
};

/**
 * The AWS side of a provisioned lab: instances and hybrid nodes with their tags, the user's policy
 * evaluated by a real IAM policy evaluator, the preferences, the log group. Tests change one thing.
 */
function world(lab: LabConfig, userPolicy = workshopUserPolicy(lab.policyMode, lab.labId, 'aws')) {
  const labTag = { Key: 'session-lab:lab-id', Value: 'demo' };
  const state = {
    instances: {
      [ids.ProdEC2Instance]: { env: 'Prod', state: 'running' },
      [ids.DevEC2Instance]: { env: 'Dev', state: 'running' },
      [ids.ProdOnPremHost]: { env: 'Prod', state: 'running' },
      [ids.DevOnPremHost]: { env: 'Dev', state: 'running' },
      [ids.Bootstrap]: { env: 'Bootstrap', state: 'running' },
    } as Record<string, { env: string; state: string }>,
    managed: {
      [ids.ProdOnPrem]: [labTag, { Key: 'Environment', Value: 'Prod' }],
      [ids.DevOnPrem]: [labTag, { Key: 'Environment', Value: 'Dev' }],
      [ids.OtherLab]: [
        { Key: 'session-lab:lab-id', Value: 'other' },
        { Key: 'Environment', Value: 'Dev' },
      ],
    } as Record<string, { Key: string; Value: string }[]>,
    ping: {} as Record<string, string>,
    userCreated: LONG_AGO,
    preferences: sessionPreferences(lab) as object,
    logGroupExists: true,
  };
  ec2.on(DescribeInstancesCommand).callsFake(({ Filters }) => {
    const wanted: string[] = Filters[0].Values;
    return {
      Reservations: [
        {
          Instances: wanted
            .filter((id) => state.instances[id])
            .map((id) => ({
              InstanceId: id,
              State: { Name: state.instances[id]!.state },
              Tags: [labTag, { Key: 'Environment', Value: state.instances[id]!.env }],
            })),
        },
      ],
    };
  });
  ssm.on(ListTagsForResourceCommand).callsFake(({ ResourceId }) => {
    if (!state.managed[ResourceId]) throw awsError('InvalidResourceId');
    return { TagList: state.managed[ResourceId] };
  });
  ssm.on(DescribeInstanceInformationCommand).callsFake(({ Filters }) => ({
    InstanceInformationList: (Filters[0].Values as string[])
      .filter((id) => state.instances[id] || state.managed[id])
      .map((id) => ({ InstanceId: id, PingStatus: state.ping[id] ?? 'Online' })),
  }));
  iam.on(SimulatePrincipalPolicyCommand).callsFake(async ({ ResourceArns, ContextEntries }) => {
    const context = Object.fromEntries(
      (ContextEntries as ContextEntry[]).map((e) => [e.ContextKeyName!, e.ContextKeyValues![0]!]),
    );
    const decision = await simulate([userPolicy], 'ssm:StartSession', ResourceArns[0], context);
    return {
      EvaluationResults: [
        {
          EvalActionName: 'ssm:StartSession',
          EvalDecision: decision,
          ResourceSpecificResults: [{ EvalResourceName: ResourceArns[0], EvalResourceDecision: decision }],
        },
      ],
    };
  });
  iam.on(GetLoginProfileCommand).resolves({ LoginProfile: { UserName: USER, CreateDate: LONG_AGO } });
  iam
    .on(GetUserCommand)
    .callsFake(() => ({ User: { UserName: USER, Arn: USER_ARN, CreateDate: state.userCreated } }));
  iam
    .on(GetPolicyCommand)
    .resolves({ Policy: { Arn: POLICY_ARN, CreateDate: LONG_AGO, UpdateDate: LONG_AGO } });
  ssm.on(GetDocumentCommand).callsFake(() => ({
    DocumentVersion: '3',
    DocumentType: 'Session',
    Content: JSON.stringify(state.preferences),
  }));
  logs.on(DescribeLogGroupsCommand).callsFake(() => ({
    logGroups: state.logGroupExists ? [{ logGroupName: 'SSM-Logs' }] : [],
  }));
  ssm.on(DescribeSessionsCommand).resolves({
    Sessions: [
      {
        SessionId: `${USER}-0a1b2c3d4e`,
        Target: ids.DevEC2Instance,
        Status: 'Terminated',
        StartDate: LONG_AGO,
        EndDate: LONG_AGO,
        Owner: USER_ARN,
      },
    ],
  });
  return state;
}

function input(lab: LabConfig, extra: Partial<Input> = {}): Input {
  return inputSchema.parse({
    lab,
    instances: [
      {
        role: 'ProdEC2Instance',
        kind: 'ec2',
        environment: 'Prod',
        instanceId: ids.ProdEC2Instance,
        privateIpAddress: '10.0.1.11',
      },
      {
        role: 'DevEC2Instance',
        kind: 'ec2',
        environment: 'Dev',
        instanceId: ids.DevEC2Instance,
        privateIpAddress: '10.0.1.12',
      },
      {
        role: 'ProdOnPrem',
        kind: 'onprem',
        environment: 'Prod',
        instanceId: ids.ProdOnPremHost,
        privateIpAddress: '10.0.1.13',
      },
      {
        role: 'DevOnPrem',
        kind: 'onprem',
        environment: 'Dev',
        instanceId: ids.DevOnPremHost,
        privateIpAddress: '10.0.1.14',
      },
      {
        role: 'Bootstrap',
        kind: 'bootstrap',
        environment: 'Bootstrap',
        instanceId: ids.Bootstrap,
        privateIpAddress: '10.0.1.15',
      },
    ],
    nodes: [
      { role: 'ProdOnPrem', environment: 'Prod', managedInstanceId: ids.ProdOnPrem },
      { role: 'DevOnPrem', environment: 'Dev', managedInstanceId: ids.DevOnPrem },
    ],
    user: {
      userName: USER,
      userArn: USER_ARN,
      policyArn: POLICY_ARN,
      passwordSecretArn: SECRET_ARN,
      attachedPolicies: [POLICY_ARN],
    },
    logging: {
      logGroupName: 'SSM-Logs',
      documentName: 'SSM-SessionManagerRunShell',
      documentVersion: '3',
      preferences: sessionPreferences(lab).inputs,
    },
    ...extra,
  });
}

const run = (i: Input) => verifyLab(i, testClients(), () => NOW);
const matrix = (report: Awaited<ReturnType<typeof verifyLab>>) =>
  Object.fromEntries(
    report.accessMatrix.map((c) => [c.role === 'other-lab' ? c.nodeId : c.role, [c.expected, c.actual]]),
  );

beforeEach(() => {
  ec2.reset();
  iam.reset();
  logs.reset();
  ssm.reset();
});

describe('verifyLab', () => {
  it('strict: Dev nodes allowed, Prod EC2 and Prod on-prem denied, bootstrap denied, and the lab is ok', async () => {
    const lab = testLab();
    world(lab);
    const report = await run(input(lab));

    expect(matrix(report)).toEqual({
      ProdEC2Instance: ['denied', 'denied'],
      DevEC2Instance: ['allowed', 'allowed'],
      ProdOnPrem: ['denied', 'denied'],
      DevOnPrem: ['allowed', 'allowed'],
      Bootstrap: ['denied', 'denied'],
    });
    expect(report).toMatchObject({
      labId: 'demo',
      policyMode: 'strict',
      signInUrl: `https://${ACCOUNT}.signin.aws.amazon.com/console`,
      user: { userName: USER, passwordSecretArn: SECRET_ARN, loginProfile: true },
      preferences: {
        documentName: 'SSM-SessionManagerRunShell',
        documentVersion: '3',
        matches: true,
        logGroupExists: true,
      },
      gaps: [],
      problems: [],
      ok: true,
    });
    expect(report.nodes).toEqual([
      { role: 'ProdEC2Instance', environment: 'Prod', nodeId: ids.ProdEC2Instance, pingStatus: 'Online' },
      { role: 'DevEC2Instance', environment: 'Dev', nodeId: ids.DevEC2Instance, pingStatus: 'Online' },
      { role: 'ProdOnPrem', environment: 'Prod', nodeId: ids.ProdOnPrem, pingStatus: 'Online' },
      { role: 'DevOnPrem', environment: 'Dev', nodeId: ids.DevOnPrem, pingStatus: 'Online' },
    ]);
    expect(report.sessionHistory).toEqual([
      expect.objectContaining({ target: ids.DevEC2Instance, status: 'Terminated' }),
    ]);
  });

  it('simulates against the right ARN kinds with the nodes\u2019 real tags as both condition keys', async () => {
    const lab = testLab();
    world(lab);
    await run(input(lab));
    const calls = inputsOf(iam, SimulatePrincipalPolicyCommand);
    const byResource = Object.fromEntries(calls.map((c) => [c.ResourceArns![0], c]));
    const prodHybrid = byResource[`arn:aws:ssm:us-east-1:${ACCOUNT}:managed-instance/${ids.ProdOnPrem}`]!;
    expect(prodHybrid).toMatchObject({ PolicySourceArn: USER_ARN, ActionNames: ['ssm:StartSession'] });
    expect(prodHybrid.ContextEntries).toEqual(
      expect.arrayContaining([
        {
          ContextKeyName: 'ssm:resourceTag/Environment',
          ContextKeyValues: ['Prod'],
          ContextKeyType: 'string',
        },
        {
          ContextKeyName: 'aws:ResourceTag/Environment',
          ContextKeyValues: ['Prod'],
          ContextKeyType: 'string',
        },
        {
          ContextKeyName: 'ssm:resourceTag/session-lab:lab-id',
          ContextKeyValues: ['demo'],
          ContextKeyType: 'string',
        },
      ]),
    );
    expect(byResource[`arn:aws:ec2:us-east-1:${ACCOUNT}:instance/${ids.DevEC2Instance}`]).toBeDefined();
    // The on-prem hosts are reached as mi- nodes, never by their i- ids.
    expect(Object.keys(byResource).some((arn) => arn.endsWith(ids.ProdOnPremHost))).toBe(false);
  });

  it('seed: ProdOnPrem is allowed as the seed\u2019s policy really allows it, reported as a gap; still ok', async () => {
    const lab = testLab({ policyMode: 'seed' });
    world(lab);
    const report = await run(input(lab));
    expect(matrix(report)).toMatchObject({
      ProdEC2Instance: ['denied', 'denied'],
      DevEC2Instance: ['allowed', 'allowed'],
      ProdOnPrem: ['allowed', 'allowed'],
      DevOnPrem: ['allowed', 'allowed'],
    });
    expect(report.gaps).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^seed gap: ProdOnPrem \(mi-0bbbbbbbbbbbbbbb1\) is Prod but reachable/),
      ]),
    );
    expect(report.ok).toBe(true);
  });

  it('other labs\u2019 nodes: denied in both modes (seed mode is scoped to the lab)', async () => {
    const strict = testLab();
    world(strict);
    const strictReport = await run(input(strict, { otherLabNodes: [{ nodeId: ids.OtherLab }] }));
    expect(matrix(strictReport)[ids.OtherLab]).toEqual(['denied', 'denied']);

    ec2.reset();
    iam.reset();
    logs.reset();
    ssm.reset();
    const seed = testLab({ policyMode: 'seed' });
    world(seed);
    const seedReport = await run(input(seed, { otherLabNodes: [{ nodeId: ids.OtherLab }] }));
    expect(matrix(seedReport)[ids.OtherLab]).toEqual(['denied', 'denied']);
    expect(seedReport.gaps.some((g) => g.includes(ids.OtherLab))).toBe(false);
    expect(seedReport.ok).toBe(true);
  });

  describe('when no other labs\u2019 nodes are given, samples them itself', () => {
    const other = (lab: string, env: string) => [
      { Key: 'session-lab:lab-id', Value: lab },
      { Key: 'session-lab:managed-by', Value: 'session-lab' },
      { Key: 'Environment', Value: env },
    ];
    /** Other labs' nodes as SSM lists them by the lab tag key, with their tags. */
    function neighbours(nodes: Record<string, { tags: { Key: string; Value: string }[]; ping?: string }>) {
      ssm.on(DescribeInstanceInformationCommand).callsFake(({ Filters }) => {
        if (Filters[0].Key === 'tag-key') {
          expect(Filters).toEqual([{ Key: 'tag-key', Values: ['session-lab:lab-id'] }]);
          return {
            InstanceInformationList: [
              // This lab's own nodes carry the tag too: never sampled.
              { InstanceId: ids.DevOnPrem, PingStatus: 'Online' },
              { InstanceId: ids.DevEC2Instance, PingStatus: 'Online' },
              ...Object.entries(nodes).map(([id, node]) => ({
                InstanceId: id,
                PingStatus: node.ping ?? 'Online',
              })),
            ],
          };
        }
        return {
          InstanceInformationList: (Filters[0].Values as string[]).map((id) => ({
            InstanceId: id,
            PingStatus: 'Online',
          })),
        };
      });
      const own: Record<string, { Key: string; Value: string }[]> = {
        [ids.ProdOnPrem]: other('demo', 'Prod'),
        [ids.DevOnPrem]: other('demo', 'Dev'),
      };
      ssm.on(ListTagsForResourceCommand).callsFake(({ ResourceId }) => {
        const found = own[ResourceId] ?? nodes[ResourceId]?.tags;
        if (!found) throw awsError('InvalidResourceId');
        return { TagList: found };
      });
    }

    it('Dev nodes of other labs first, one lab after another, at most four; strict denies them all', async () => {
      const lab = testLab();
      world(lab);
      neighbours({
        'mi-0ddddddddddddddd1': { tags: other('alpha', 'Prod') },
        'mi-0ddddddddddddddd2': { tags: other('alpha', 'Dev') },
        'mi-0ddddddddddddddd3': { tags: other('beta', 'Dev') },
        'mi-0ddddddddddddddd4': { tags: other('beta', 'Dev') },
        'mi-0ddddddddddddddd5': { tags: other('gamma', 'Dev'), ping: 'ConnectionLost' },
        // A stale node of this very lab (a replaced host) is not another lab's.
        'mi-0ddddddddddddddd6': { tags: other('demo', 'Dev') },
        // Tagged with a lab id but not session-lab's.
        'mi-0ddddddddddddddd7': { tags: [{ Key: 'session-lab:lab-id', Value: 'x' }] },
        'mi-0ddddddddddddddd8': { tags: other('delta', 'Prod') },
      });
      const report = await run(input(lab));
      const others = report.accessMatrix.filter((c) => c.role === 'other-lab');
      expect(others.map((c) => [c.nodeId, c.environment, c.expected, c.actual])).toEqual([
        ['mi-0ddddddddddddddd2', 'Dev', 'denied', 'denied'],
        ['mi-0ddddddddddddddd3', 'Dev', 'denied', 'denied'],
        ['mi-0ddddddddddddddd4', 'Dev', 'denied', 'denied'],
        ['mi-0ddddddddddddddd1', 'Prod', 'denied', 'denied'],
      ]);
      expect(report.ok).toBe(true);
    });

    it('a strict policy that forgets the lab id is caught on another lab’s Dev node', async () => {
      const lab = testLab();
      // The strict policy with its lab-id condition dropped: Dev of any lab is allowed.
      const leaky = structuredClone(workshopUserPolicy('strict', 'demo', 'aws'));
      for (const statement of leaky.Statement) {
        const equals = (statement.Condition as Record<string, Record<string, unknown>> | undefined)
          ?.StringEquals;
        if (equals) delete equals['ssm:resourceTag/session-lab:lab-id'];
      }
      world(lab, leaky);
      neighbours({ 'mi-0ddddddddddddddd2': { tags: other('alpha', 'Dev') } });
      await expect(run(input(lab))).rejects.toMatchObject({
        name: 'LabStateMismatch',
        message: expect.stringContaining('other-lab mi-0ddddddddddddddd2: expected denied, got allowed'),
      });
    });

    it('an explicit list (even empty) is used as given: nothing is listed', async () => {
      const lab = testLab();
      world(lab);
      neighbours({ 'mi-0ddddddddddddddd2': { tags: other('alpha', 'Dev') } });
      const report = await run(input(lab, { otherLabNodes: [] }));
      expect(report.accessMatrix.some((c) => c.role === 'other-lab')).toBe(false);
      const listed = inputsOf(ssm, DescribeInstanceInformationCommand);
      expect(listed.some((call) => call.Filters?.[0]?.Key === 'tag-key')).toBe(false);
    });
  });

  it('a strict lab whose user still holds the seed policy fails, naming the ProdOnPrem cell', async () => {
    const lab = testLab();
    world(lab, workshopUserPolicy('seed', 'demo', 'aws'));
    await expect(run(input(lab))).rejects.toMatchObject({
      name: 'LabStateMismatch',
      message: expect.stringContaining(`ProdOnPrem ${ids.ProdOnPrem}: expected denied, got allowed`),
    });
  });

  it('the same wrong matrix right after the user was created is IAM propagation: NotReadyYet', async () => {
    const lab = testLab();
    const state = world(lab, workshopUserPolicy('seed', 'demo', 'aws'));
    state.userCreated = new Date(NOW.getTime() - 60_000);
    await expect(run(input(lab))).rejects.toMatchObject({
      name: 'NotReadyYet',
      message: expect.stringContaining('ProdOnPrem'),
    });
    // With no propagation window, the same state is a failure at once.
    await expect(run(input(lab, { propagationWindowSeconds: 0 }))).rejects.toMatchObject({
      name: 'LabStateMismatch',
    });
  });

  it('reads the real tags: a Prod instance mis-tagged Dev is caught', async () => {
    const lab = testLab();
    const state = world(lab);
    state.instances[ids.ProdEC2Instance]!.env = 'Dev';
    await expect(run(input(lab))).rejects.toMatchObject({
      name: 'LabStateMismatch',
      message: expect.stringContaining(
        `ProdEC2Instance ${ids.ProdEC2Instance}: expected denied, got allowed`,
      ),
    });
  });

  it('reports (ok: false) a node not Online, missing preferences, a missing login profile and log group', async () => {
    const lab = testLab();
    const state = world(lab);
    state.ping[ids.DevOnPrem] = 'ConnectionLost';
    state.preferences = { schemaVersion: '1.0', inputs: { cloudWatchLogGroupName: 'elsewhere' } };
    state.logGroupExists = false;
    iam.on(GetLoginProfileCommand).rejects(awsError('NoSuchEntityException'));
    const report = await run(input(lab));
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([
      `DevOnPrem (${ids.DevOnPrem}) is ConnectionLost, not Online`,
      `${USER} has no console password (login profile)`,
      "SSM-SessionManagerRunShell does not hold the lab's preferences",
      'log group SSM-Logs does not exist',
    ]);
  });

  it('a sampled node of another lab that goes away meanwhile stays in the matrix with the tags it had', async () => {
    const lab = testLab();
    world(lab);
    let listed = false;
    ssm.on(DescribeInstanceInformationCommand).callsFake(({ Filters }) => ({
      InstanceInformationList:
        Filters[0].Key === 'tag-key'
          ? [{ InstanceId: 'mi-0ddddddddddddddd2', PingStatus: 'Online' }]
          : (Filters[0].Values as string[]).map((id) => ({ InstanceId: id, PingStatus: 'Online' })),
    }));
    ssm.on(ListTagsForResourceCommand).callsFake(({ ResourceId }) => {
      if (ResourceId === 'mi-0ddddddddddddddd2') {
        if (listed) throw awsError('InvalidResourceId');
        listed = true;
        return {
          TagList: [
            { Key: 'session-lab:lab-id', Value: 'alpha' },
            { Key: 'session-lab:managed-by', Value: 'session-lab' },
            { Key: 'Environment', Value: 'Dev' },
          ],
        };
      }
      return {
        TagList: [
          { Key: 'session-lab:lab-id', Value: 'demo' },
          { Key: 'Environment', Value: ResourceId === ids.ProdOnPrem ? 'Prod' : 'Dev' },
        ],
      };
    });
    const report = await run(input(lab));
    expect(matrix(report)['mi-0ddddddddddddddd2']).toEqual(['denied', 'denied']);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it('a hybrid node that is gone is reported, not simulated', async () => {
    const lab = testLab();
    const state = world(lab);
    delete state.managed[ids.DevOnPrem];
    const report = await run(input(lab));
    expect(report.accessMatrix.find((c) => c.role === 'DevOnPrem')).toMatchObject({ actual: 'unknown' });
    expect(report.problems).toEqual(
      expect.arrayContaining([`DevOnPrem (${ids.DevOnPrem}) is NotRegistered, not Online`]),
    );
    expect(report.ok).toBe(false);
  });

  it('a node SSM no longer knows (InvalidInstanceId for the whole lookup) is NotRegistered; the others still read', async () => {
    const lab = testLab();
    const state = world(lab);
    delete state.managed[ids.DevOnPrem];
    state.ping[ids.ProdOnPrem] = 'ConnectionLost';
    // As AWS does: one id it does not know fails the whole InstanceIds lookup.
    ssm.on(DescribeInstanceInformationCommand).callsFake(({ Filters }) => {
      if (Filters[0].Key !== 'InstanceIds') return { InstanceInformationList: [] };
      const wanted = Filters[0].Values as string[];
      if (wanted.some((id) => !state.instances[id] && !state.managed[id]))
        throw awsError('InvalidInstanceId');
      return {
        InstanceInformationList: wanted.map((id) => ({
          InstanceId: id,
          PingStatus: state.ping[id] ?? 'Online',
        })),
      };
    });
    const report = await run(input(lab));
    expect(report.nodes.map((n) => [n.role, n.pingStatus])).toEqual([
      ['ProdEC2Instance', 'Online'],
      ['DevEC2Instance', 'Online'],
      ['ProdOnPrem', 'ConnectionLost'],
      ['DevOnPrem', 'NotRegistered'],
    ]);
    expect(report.problems).toEqual(
      expect.arrayContaining([
        `ProdOnPrem (${ids.ProdOnPrem}) is ConnectionLost, not Online`,
        `DevOnPrem (${ids.DevOnPrem}) is NotRegistered, not Online`,
      ]),
    );
  });

  it('leaves a terminated bootstrap host out of the matrix', async () => {
    const lab = testLab();
    const state = world(lab);
    state.instances[ids.Bootstrap]!.state = 'terminated';
    const report = await run(input(lab));
    expect(report.accessMatrix.map((c) => c.role)).not.toContain('Bootstrap');
    expect(report.ok).toBe(true);
  });

  it('carries no secret: only the secret ARN and names', async () => {
    const lab = testLab();
    world(lab);
    const report = await run(input(lab));
    expect(Object.keys(report.user).sort()).toEqual(['loginProfile', 'passwordSecretArn', 'userName']);
    expect(JSON.stringify(report)).not.toMatch(/"password"\s*:/i);
  });

  it('runs twice with the same report (read-only)', async () => {
    const lab = testLab();
    world(lab);
    const first = await run(input(lab));
    await expect(run(input(lab))).resolves.toEqual(first);
  });

  it('propagates throttling of the simulator', async () => {
    const lab = testLab();
    world(lab);
    iam.on(SimulatePrincipalPolicyCommand).rejects(awsError('Throttling', 'Rate exceeded'));
    await expect(run(input(lab))).rejects.toMatchObject({ name: 'Throttling' });
  });
});
