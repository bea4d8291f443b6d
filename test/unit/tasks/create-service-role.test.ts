import { jest } from '@jest/globals';
import { DetachRolePolicyCommand, GetRoleCommand, UpdateAssumeRolePolicyCommand } from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { createServiceRole } from '../../../functions/create-service-role/task.js';
import { HOST_GUARD_POLICY_NAME, hostGuardPolicy } from '../../../functions/shared/host-guard.js';
import { managedPolicies } from '../../../functions/shared/names.js';
import { TEST_ACCOUNT, throttled } from '../../helpers/aws.js';
import { FakeIam } from '../../helpers/fake-iam.js';

/** The managed policies in the tests' Region's partition (us-east-1: aws). */
const MANAGED_POLICIES = managedPolicies('aws');
/** The seed's second policy on SSMServiceRole, which session-lab detaches. */
const CLOUDWATCH_AGENT = 'arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy';

let iam: FakeIam;
let sts: STSClient;
beforeEach(() => {
  iam = new FakeIam();
  // A fresh client per test: the account lookup is cached per client.
  sts = new STSClient({ region: 'eu-west-1' });
  mockClient(sts)
    .on(GetCallerIdentityCommand)
    .resolves({ Account: TEST_ACCOUNT, Arn: `arn:aws:sts::${TEST_ACCOUNT}:assumed-role/x/y` });
});

const run = () => createServiceRole({}, { iam: iam.client, sts });
const trustOf = () => JSON.parse(iam.roles.get('SSMServiceRole')!.trust);

const SEED_TRUST = {
  Version: '2012-10-17',
  Statement: { Effect: 'Allow', Principal: { Service: 'ssm.amazonaws.com' }, Action: 'sts:AssumeRole' },
};

describe('createServiceRole', () => {
  it('creates SSMServiceRole trusted by ssm.amazonaws.com from this account and Region only', async () => {
    await expect(run()).resolves.toEqual({
      serviceRoleName: 'SSMServiceRole',
      serviceRoleArn: `arn:aws:iam::${TEST_ACCOUNT}:role/SSMServiceRole`,
    });
    expect(trustOf()).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { Service: 'ssm.amazonaws.com' },
          Action: 'sts:AssumeRole',
          Condition: {
            StringEquals: { 'aws:SourceAccount': TEST_ACCOUNT },
            ArnEquals: { 'aws:SourceArn': `arn:aws:ssm:eu-west-1:${TEST_ACCOUNT}:*` },
          },
        },
      ],
    });
    expect([...iam.roles.get('SSMServiceRole')!.attached]).toEqual([MANAGED_POLICIES.ssmCore]);
    expect(JSON.parse(iam.roles.get('SSMServiceRole')!.inline!.get(HOST_GUARD_POLICY_NAME)!)).toEqual(
      hostGuardPolicy('aws'),
    );
  });

  it("detaches the seed's CloudWatchAgentServerPolicy from a role of an earlier release and adds the guard", async () => {
    iam.roles.set('SSMServiceRole', {
      trust: JSON.stringify(SEED_TRUST),
      attached: new Set([MANAGED_POLICIES.ssmCore, CLOUDWATCH_AGENT]),
      tags: [],
    });
    await run();
    expect([...iam.roles.get('SSMServiceRole')!.attached]).toEqual([MANAGED_POLICIES.ssmCore]);
    expect(iam.mock.commandCalls(DetachRolePolicyCommand)[0]!.args[0].input).toEqual({
      RoleName: 'SSMServiceRole',
      PolicyArn: CLOUDWATCH_AGENT,
    });
    expect(iam.roles.get('SSMServiceRole')!.inline!.has(HOST_GUARD_POLICY_NAME)).toBe(true);
  });

  it('running twice converges: the second run writes nothing', async () => {
    await run();
    const writes = iam.writes().length;
    await run();
    expect(iam.writes()).toHaveLength(writes);
  });

  it("updates the seed's trust policy (no confused-deputy conditions), then verifies", async () => {
    iam.roles.set('SSMServiceRole', {
      trust: JSON.stringify(SEED_TRUST),
      attached: new Set([MANAGED_POLICIES.ssmCore]),
      tags: [],
    });
    await run();
    expect(iam.mock.commandCalls(UpdateAssumeRolePolicyCommand)).toHaveLength(1);
    expect(trustOf().Statement[0].Condition.StringEquals).toEqual({ 'aws:SourceAccount': TEST_ACCOUNT });
    expect(iam.roles.get('SSMServiceRole')!.attached.size).toBe(1);
  });

  it("keeps another Region's SourceArn: labs in two Regions share the global role", async () => {
    await run();
    sts = new STSClient({ region: 'us-west-2' });
    mockClient(sts).on(GetCallerIdentityCommand).resolves({ Account: TEST_ACCOUNT, Arn: 'arn:aws:sts::1:x' });
    await run();
    expect(trustOf().Statement[0].Condition.ArnEquals['aws:SourceArn']).toEqual([
      `arn:aws:ssm:eu-west-1:${TEST_ACCOUNT}:*`,
      `arn:aws:ssm:us-west-2:${TEST_ACCOUNT}:*`,
    ]);
    // And it is stable from then on, whichever Region runs.
    const writes = iam.writes().length;
    await run();
    expect(iam.writes()).toHaveLength(writes);
  });

  it('drops a SourceArn of a different account while converging', async () => {
    iam.roles.set('SSMServiceRole', {
      trust: JSON.stringify({
        ...SEED_TRUST,
        Statement: {
          ...SEED_TRUST.Statement,
          Condition: { ArnLike: { 'aws:SourceArn': 'arn:aws:ssm:eu-west-1:999999999999:*' } },
        },
      }),
      attached: new Set(),
      tags: [],
    });
    await run();
    expect(JSON.stringify(trustOf())).not.toContain('999999999999');
  });

  it('a read-back that still shows the old trust after our update is IamNotPropagatedYet', async () => {
    iam.roles.set('SSMServiceRole', {
      trust: JSON.stringify(SEED_TRUST),
      attached: new Set([MANAGED_POLICIES.ssmCore]),
      tags: [],
    });
    // IAM accepts the update but reads keep returning the old document.
    iam.mock.on(UpdateAssumeRolePolicyCommand).resolves({});
    await expect(run()).rejects.toMatchObject({ name: 'IamNotPropagatedYet' });
  });

  it('propagates throttling and does not cache a failed account lookup', async () => {
    sts = new STSClient({ region: 'eu-west-1' });
    mockClient(sts)
      .on(GetCallerIdentityCommand)
      .rejectsOnce(throttled.iam())
      .resolves({ Account: TEST_ACCOUNT, Arn: 'arn:aws:sts::1:x' });
    await expect(run()).rejects.toMatchObject({ name: 'Throttling' });
    await expect(run()).resolves.toMatchObject({ serviceRoleName: 'SSMServiceRole' });
  });

  it('propagates an IAM error it does not handle', async () => {
    iam.mock.on(GetRoleCommand).rejects(throttled.iam());
    await expect(run()).rejects.toMatchObject({ name: 'Throttling' });
  });

  describe("for a lab that is not the shared roles' first holder", () => {
    const justNow = () => new Date(Date.now() - 5_000).toISOString();
    const asHolder = (heldSince: string) =>
      createServiceRole({ converge: false, heldSince }, { iam: iam.client, sts });

    it('uses the complete role the first holder left: two reads, no write', async () => {
      await run();
      iam.mock.resetHistory();
      await expect(asHolder(justNow())).resolves.toMatchObject({ serviceRoleName: 'SSMServiceRole' });
      expect(iam.mock.calls().map((c) => (c.args[0] as object).constructor.name)).toEqual([
        'GetRoleCommand',
        'ListAttachedRolePoliciesCommand',
      ]);
    });

    it('checks again while the role lacks a policy, then converges it itself after the grace', async () => {
      await run();
      iam.roles.get('SSMServiceRole')!.attached.delete(MANAGED_POLICIES.ssmCore);
      iam.mock.resetHistory();
      jest.useFakeTimers({ now: Date.now() });
      try {
        const used = asHolder(justNow());
        await jest.advanceTimersByTimeAsync(30_000);
        expect(iam.writes()).toEqual([]); // still the first holder's to finish
        await jest.advanceTimersByTimeAsync(30_000);
        await used;
      } finally {
        jest.useRealTimers();
      }
      expect(iam.roles.get('SSMServiceRole')!.attached.has(MANAGED_POLICIES.ssmCore)).toBe(true);
    });
  });
});
