import { jest } from '@jest/globals';
import {
  AddRoleToInstanceProfileCommand,
  AttachRolePolicyCommand,
  CreateRoleCommand,
  GetInstanceProfileCommand,
  GetRoleCommand,
  LimitExceededException,
  ListAttachedRolePoliciesCommand,
  NoSuchEntityException,
} from '@aws-sdk/client-iam';
import { createInstanceRole } from '../../../functions/create-instance-role/task.js';
import { HOST_GUARD_POLICY_NAME, hostGuardPolicy } from '../../../functions/shared/host-guard.js';
import { managedPolicies } from '../../../functions/shared/names.js';
import type { LabRegistry } from '../../../functions/shared/registry/lab-registry.js';
import { TAG_MANAGED_BY } from '../../../functions/shared/tags.js';
import { throttled } from '../../helpers/aws.js';
import { FakeIam } from '../../helpers/fake-iam.js';

/** The managed policies in the tests' Region's partition (us-east-1: aws). */
const MANAGED_POLICIES = managedPolicies('aws');

const DEPRECATED = 'arn:aws:iam::aws:policy/service-role/AmazonEC2RoleforSSM';
const EC2_TRUST = {
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
};

let iam: FakeIam;
beforeEach(() => {
  iam = new FakeIam();
});

const run = () => createInstanceRole({}, { iam: iam.client });

describe('createInstanceRole', () => {
  it('creates SSMLabRole (ec2 trust, AmazonSSMManagedInstanceCore) inside SSMLabProfile', async () => {
    await expect(run()).resolves.toEqual({
      instanceRoleName: 'SSMLabRole',
      instanceProfileName: 'SSMLabProfile',
      instanceProfileArn: 'arn:aws:iam::123456789012:instance-profile/SSMLabProfile',
    });
    const role = iam.roles.get('SSMLabRole')!;
    expect(JSON.parse(role.trust)).toEqual(EC2_TRUST);
    expect([...role.attached]).toEqual([MANAGED_POLICIES.ssmCore]);
    expect(role.attached.has(DEPRECATED)).toBe(false);
    // The host guard: the managed policy's GetParameter on * no longer reaches /session-lab.
    expect(JSON.parse(role.inline!.get(HOST_GUARD_POLICY_NAME)!)).toEqual(hostGuardPolicy('aws'));
    expect(role.tags).toContainEqual({ Key: TAG_MANAGED_BY, Value: 'session-lab' });
    expect(iam.profiles.get('SSMLabProfile')).toEqual(['SSMLabRole']);
    // Verified like the seed: attachments listed and the role read back after the writes.
    const calls = iam.mock.calls().map((c) => (c.args[0] as object).constructor.name);
    expect(calls.lastIndexOf('GetRoleCommand')).toBeGreaterThan(
      calls.indexOf('AddRoleToInstanceProfileCommand'),
    );
    expect(iam.mock.commandCalls(ListAttachedRolePoliciesCommand).length).toBeGreaterThanOrEqual(2);
  });

  it('running twice converges: the second run writes nothing', async () => {
    const first = await run();
    const writes = iam.writes().length;
    await expect(run()).resolves.toEqual(first);
    expect(iam.writes()).toHaveLength(writes);
    expect(iam.mock.commandCalls(AddRoleToInstanceProfileCommand)).toHaveLength(1);
  });

  it('adopts what already exists (a crash after the role, before the profile)', async () => {
    iam.roles.set('SSMLabRole', { trust: JSON.stringify(EC2_TRUST), attached: new Set(), tags: [] });
    await run();
    expect(iam.mock.commandCalls(CreateRoleCommand)).toHaveLength(0);
    expect(iam.mock.commandCalls(AttachRolePolicyCommand)).toHaveLength(1);
    expect(iam.profiles.get('SSMLabProfile')).toEqual(['SSMLabRole']);
  });

  it('converges a role built by the manual lab: replaces AmazonEC2RoleforSSM', async () => {
    iam.roles.set('SSMLabRole', {
      trust: JSON.stringify({ Version: '2012-10-17', Statement: EC2_TRUST.Statement[0] }),
      attached: new Set([DEPRECATED]),
      tags: [],
    });
    iam.profiles.set('SSMLabProfile', ['SSMLabRole']);
    await run();
    expect([...iam.roles.get('SSMLabRole')!.attached]).toEqual([MANAGED_POLICIES.ssmCore]);
    expect(iam.mock.commandCalls(AddRoleToInstanceProfileCommand)).toHaveLength(0);
  });

  it('refuses a profile that holds a different role (a profile holds one)', async () => {
    iam.roles.set('SomeoneElsesRole', { trust: '{}', attached: new Set(), tags: [] });
    iam.profiles.set('SSMLabProfile', ['SomeoneElsesRole']);
    await expect(run()).rejects.toMatchObject({
      name: 'LabStateMismatch',
      message: expect.stringMatching(/SomeoneElsesRole/),
    });
    expect(iam.mock.commandCalls(AddRoleToInstanceProfileCommand)).toHaveLength(0);
  });

  it('a concurrent execution adding the role first (LimitExceeded) is success', async () => {
    iam.profiles.set('SSMLabProfile', []);
    // Between our read (empty profile) and our add, another execution adds the same role.
    iam.mock.on(AddRoleToInstanceProfileCommand).callsFake(() => {
      iam.profiles.set('SSMLabProfile', ['SSMLabRole']);
      throw new LimitExceededException({
        $metadata: {},
        message: 'Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1',
      });
    });
    await expect(run()).resolves.toMatchObject({ instanceProfileName: 'SSMLabProfile' });
  });

  it('a profile not readable right after creation is IamNotPropagatedYet', async () => {
    iam.mock
      .on(GetInstanceProfileCommand)
      .rejects(new NoSuchEntityException({ $metadata: {}, message: 'Instance Profile cannot be found.' }));
    await expect(run()).rejects.toMatchObject({ name: 'IamNotPropagatedYet' });
  });

  it('a stale read-back right after our own write is IamNotPropagatedYet, not a mismatch', async () => {
    const reads = iam.mock.on(ListAttachedRolePoliciesCommand);
    reads.resolves({ AttachedPolicies: [], IsTruncated: false });
    await expect(run()).rejects.toMatchObject({ name: 'IamNotPropagatedYet' });
  });

  it('an unexpected policy attached by someone else is a LabStateMismatch', async () => {
    iam.roles.set('SSMLabRole', {
      trust: JSON.stringify(EC2_TRUST),
      attached: new Set([MANAGED_POLICIES.ssmCore, 'arn:aws:iam::aws:policy/AdministratorAccess']),
      tags: [],
    });
    iam.profiles.set('SSMLabProfile', ['SSMLabRole']);
    await expect(run()).rejects.toMatchObject({
      name: 'LabStateMismatch',
      message: expect.stringMatching(/AdministratorAccess/),
    });
  });

  it('propagates throttling for the Step Functions retry', async () => {
    iam.mock.on(GetRoleCommand).rejects(throttled.iam());
    await expect(run()).rejects.toMatchObject({ name: 'Throttling' });
  });

  describe("for a lab that is not the shared roles' first holder", () => {
    const justNow = () => new Date(Date.now() - 5_000).toISOString();
    const longAgo = () => new Date(Date.now() - 120_000).toISOString();
    const asHolder = (heldSince: string) =>
      createInstanceRole({ converge: false, heldSince }, { iam: iam.client });
    const reads = () => iam.mock.calls().map((c) => (c.args[0] as object).constructor.name);

    it('uses the complete profile the first holder left with one read and no write', async () => {
      await run();
      iam.mock.resetHistory();
      await expect(asHolder(justNow())).resolves.toMatchObject({ instanceProfileName: 'SSMLabProfile' });
      expect(reads()).toEqual(['GetInstanceProfileCommand']);
    });

    it('checks again while the first holder completes it, writing nothing', async () => {
      await run();
      iam.profiles.set('SSMLabProfile', []); // created, the role not added yet
      iam.mock.resetHistory();
      jest.useFakeTimers({ now: Date.now() });
      try {
        const used = asHolder(justNow());
        await jest.advanceTimersByTimeAsync(0);
        iam.profiles.set('SSMLabProfile', ['SSMLabRole']); // the first holder adds it
        await jest.advanceTimersByTimeAsync(5_000);
        await expect(used).resolves.toMatchObject({ instanceProfileName: 'SSMLabProfile' });
      } finally {
        jest.useRealTimers();
      }
      expect(iam.writes()).toEqual([]);
      expect(iam.mock.commandCalls(GetInstanceProfileCommand)).toHaveLength(2);
    });

    it('converges it itself once the first holder has had its grace (it may have failed)', async () => {
      await expect(asHolder(longAgo())).resolves.toMatchObject({ instanceProfileName: 'SSMLabProfile' });
      expect(iam.profiles.get('SSMLabProfile')).toEqual(['SSMLabRole']);
      expect(iam.mock.commandCalls(CreateRoleCommand)).toHaveLength(1);
    });

    it('with the lab registry: the first holder marks the profile ready; the others take the mark and send IAM nothing', async () => {
      const marks = new Map<string, { heldSince: string; value: Record<string, unknown> }>();
      const registry = {
        marks: {
          markReady: async (key: string, heldSince: string, value: Record<string, unknown>) => {
            marks.set(key, { heldSince, value });
          },
          readyValue: async (key: string, heldSince: string) =>
            marks.get(key)?.heldSince === heldSince ? marks.get(key)!.value : undefined,
        },
      } as unknown as LabRegistry;
      const since = justNow();
      const first = await createInstanceRole(
        { converge: true, heldSince: since },
        { iam: iam.client },
        registry,
      );
      expect(marks.get('shared-roles/SSMLabProfile')).toEqual({ heldSince: since, value: first });
      iam.mock.resetHistory();
      await expect(
        createInstanceRole({ converge: false, heldSince: since }, { iam: iam.client }, registry),
      ).resolves.toEqual(first);
      expect(iam.mock.calls()).toHaveLength(0);
      // A mark of an earlier holding is not this one's: past the grace the lab converges (and marks) itself.
      await createInstanceRole({ converge: false, heldSince: longAgo() }, { iam: iam.client }, registry);
      expect(iam.mock.commandCalls(GetInstanceProfileCommand).length).toBeGreaterThan(0);
      expect(marks.get('shared-roles/SSMLabProfile')!.heldSince).not.toBe(since);
    });

    it('does not take a profile holding a role with another trust policy as complete: converges it', async () => {
      iam.roles.set('SSMLabRole', {
        trust: '{"Version":"2012-10-17","Statement":[]}',
        attached: new Set(),
        tags: [],
      });
      iam.profiles.set('SSMLabProfile', ['SSMLabRole']);
      await asHolder(longAgo());
      expect(JSON.parse(iam.roles.get('SSMLabRole')!.trust)).toEqual(EC2_TRUST);
    });
  });
});
