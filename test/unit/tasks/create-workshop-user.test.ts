import { jest } from '@jest/globals';
import { runOnFakeClock } from '../../helpers/fake-clock.js';
import {
  AttachUserPolicyCommand,
  CreateLoginProfileCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateUserCommand,
  DeletePolicyVersionCommand,
  DetachUserPolicyCommand,
  GetAccountPasswordPolicyCommand,
  GetPolicyCommand,
  GetUserCommand,
  IAMClient,
  ListAttachedUserPoliciesCommand,
  UpdateLoginProfileCommand,
} from '@aws-sdk/client-iam';
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { workshopUserPolicy } from '../../../functions/create-workshop-user/policy.js';
import { createWorkshopUser } from '../../../functions/create-workshop-user/task.js';
import { managedPolicies } from '../../../functions/shared/names.js';
import { TAG_RUN_ID, labTags, toTagRecord } from '../../../functions/shared/tags.js';
import { ACCOUNT, awsError, inputsOf, testClients, testLab } from '../../helpers/aws-mock.js';
import { FakeIamUsers } from '../../helpers/fake-iam-users.js';
import { FakeSecrets } from '../../helpers/fake-secrets.js';

/** The managed policies in the tests' Region's partition (us-east-1: aws). */
const MANAGED_POLICIES = managedPolicies('aws');

const iamMock = mockClient(IAMClient);
const secretsMock = mockClient(SecretsManagerClient);
let iam: FakeIamUsers;
let secrets: FakeSecrets;

const USER = 'MyWorkshopUser-demo';
const POLICY_ARN = `arn:aws:iam::${ACCOUNT}:policy/SSMDevAccess-demo`;
const SECRET = 'session-lab/demo/MyWorkshopUser-password';
const REQUIRED = [POLICY_ARN, MANAGED_POLICIES.userChangePassword].sort();
/** The seed's read-only managed policies, which an earlier release attached. */
const SEED_READ_ONLY = [
  'arn:aws:iam::aws:policy/CloudWatchLogsReadOnlyAccess',
  'arn:aws:iam::aws:policy/AWSCloudTrail_ReadOnlyAccess',
];

beforeEach(() => {
  iamMock.reset();
  secretsMock.reset();
  iam = new FakeIamUsers(iamMock);
  secrets = new FakeSecrets(secretsMock);
});

const run = (overrides: Parameters<typeof testLab>[0] = {}) =>
  createWorkshopUser({ lab: testLab(overrides) }, testClients());

describe('createWorkshopUser', () => {
  it('creates the tagged user, a login profile that must be reset, the policy, and attaches it and IAMUserChangePassword only', async () => {
    const out = await run();

    expect(out).toEqual({
      userName: USER,
      userArn: `arn:aws:iam::${ACCOUNT}:user/${USER}`,
      policyArn: POLICY_ARN,
      passwordSecretArn: expect.stringContaining(`:secret:${SECRET}`),
      attachedPolicies: REQUIRED,
    });
    const user = iam.users.get(USER)!;
    expect(user.tags).toEqual(
      expect.arrayContaining([
        { Key: 'session-lab:lab-id', Value: 'demo' },
        { Key: 'session-lab:managed-by', Value: 'session-lab' },
      ]),
    );
    expect(user.loginProfile).toEqual({ password: secrets.values.get(SECRET), resetRequired: true });
    expect(JSON.parse(iam.policies.get(POLICY_ARN)!.versions[0]!.document)).toEqual(
      workshopUserPolicy('strict', 'demo', 'aws'),
    );
  });

  it('never returns the password', async () => {
    const out = await run();
    const password = secrets.values.get(SECRET)!;
    expect(password.length).toBeGreaterThanOrEqual(8);
    expect(JSON.stringify(out)).not.toContain(password);
  });

  it('writes the seed policy in seed mode', async () => {
    await run({ policyMode: 'seed' });
    expect(JSON.parse(iam.policies.get(POLICY_ARN)!.versions[0]!.document)).toEqual(
      workshopUserPolicy('seed', 'demo', 'aws'),
    );
  });

  it('generates a password as long as a stricter account policy asks', async () => {
    iam.passwordPolicy = { MinimumPasswordLength: 40 };
    await run();
    expect(secrets.values.get(SECRET)!.length).toBeGreaterThanOrEqual(40);
  });

  it('converges when a new run runs it again: same user and policy, no duplicate attachments, a rotated password', async () => {
    const first = await run();
    const firstPassword = secrets.values.get(SECRET);
    const second = await run({ runId: 'provision-demo-2' });

    expect(second).toEqual(first);
    expect(iam.policies.get(POLICY_ARN)!.versions).toHaveLength(1);
    expect(iamMock.commandCalls(AttachUserPolicyCommand)).toHaveLength(REQUIRED.length);
    expect(iamMock.commandCalls(UpdateLoginProfileCommand)).toHaveLength(1);
    // The secret always holds the password in effect.
    expect(secrets.values.get(SECRET)).not.toBe(firstPassword);
    expect(iam.users.get(USER)!.loginProfile!.password).toBe(secrets.values.get(SECRET));
  });

  const iamCalls = () => iamMock.calls().map((call) => (call.args[0] as object).constructor.name);
  const iamWrites = () => iamCalls().filter((name) => !/^(Get|List)/.test(name));

  it('a new run reads what it made: its only IAM write is the rotated password', async () => {
    await run();
    iamMock.resetHistory();
    await run({ runId: 'provision-demo-2' });

    expect(iamWrites()).toEqual(['UpdateLoginProfileCommand']);
  });

  it('a retry of the same run keeps the password it set: no IAM write, no password call, no secret write', async () => {
    await run();
    const password = secrets.values.get(SECRET);
    iamMock.resetHistory();
    secretsMock.resetHistory();

    const again = await run();

    expect(again.passwordSecretArn).toContain(SECRET);
    expect(iamWrites()).toEqual([]);
    // Four IAM reads: the user, the policy and its document, the attachments (listed once).
    expect(iamCalls()).toEqual([
      'GetUserCommand',
      'GetPolicyCommand',
      'GetPolicyVersionCommand',
      'ListAttachedUserPoliciesCommand',
    ]);
    expect(secretsMock.commandCalls(PutSecretValueCommand)).toHaveLength(0);
    expect(secrets.values.get(SECRET)).toBe(password);
    expect(iam.users.get(USER)!.loginProfile!.password).toBe(password);
  });

  it('tags the secret with the run only once the login profile has its password', async () => {
    await run();
    iamMock.on(UpdateLoginProfileCommand).rejectsOnce(awsError('ServiceFailure', 'crash'));
    await expect(run({ runId: 'provision-demo-2' })).rejects.toMatchObject({ name: 'ServiceFailure' });
    expect(toTagRecord(secrets.tags.get(SECRET))[TAG_RUN_ID]).toBe('provision-demo-1');
  });

  it('throws IamNotPropagatedYet when CreateUser finds the user GetUser does not show yet', async () => {
    iamMock
      .on(GetUserCommand)
      .rejects(awsError('NoSuchEntityException', `The user ${USER} cannot be found.`));
    iamMock
      .on(CreateUserCommand)
      .rejects(awsError('EntityAlreadyExistsException', `User ${USER} already exists.`));

    await expect(run()).rejects.toMatchObject({
      name: 'IamNotPropagatedYet',
      message: expect.stringContaining(USER),
    });
    expect(secrets.values.size).toBe(0);
  });

  it('throws IamNotPropagatedYet when CreatePolicy finds the policy GetPolicy does not show yet', async () => {
    iamMock.on(GetPolicyCommand).rejects(awsError('NoSuchEntityException', 'Policy does not exist.'));
    iamMock
      .on(CreatePolicyCommand)
      .rejects(awsError('EntityAlreadyExistsException', 'Policy already exists.'));

    await expect(run()).rejects.toMatchObject({
      name: 'IamNotPropagatedYet',
      message: expect.stringContaining('SSMDevAccess-demo'),
    });
  });

  it('stores the new password before UpdateLoginProfile, and the next run converges after a crash there', async () => {
    await run();
    const firstPassword = secrets.values.get(SECRET);
    iamMock.on(UpdateLoginProfileCommand).rejectsOnce(awsError('ServiceFailure', 'crash'));
    // A new run: the retry below is of the same run, which still rotates (its tag is not there).
    const secondRun = () => run({ runId: 'provision-demo-2' });
    await expect(secondRun()).rejects.toMatchObject({ name: 'ServiceFailure' });
    // Stored first: the secret already holds the password the failed call was setting.
    expect(secrets.values.get(SECRET)).not.toBe(firstPassword);
    iam.stub.on(UpdateLoginProfileCommand).callsFake(({ UserName, Password }) => {
      iam.users.get(UserName)!.loginProfile = { password: Password, resetRequired: true };
      return {};
    });
    await secondRun();
    expect(iam.users.get(USER)!.loginProfile!.password).toBe(secrets.values.get(SECRET));
  });

  it('makes a changed policy the default version (mode switch), writing nothing when unchanged', async () => {
    await run({ policyMode: 'seed' });
    await run({ policyMode: 'strict' });
    await run({ policyMode: 'strict' });
    const policy = iam.policies.get(POLICY_ARN)!;
    expect(policy.versions).toHaveLength(2);
    expect(policy.defaultVersion).toBe('v2');
    expect(JSON.parse(policy.versions[1]!.document)).toEqual(workshopUserPolicy('strict', 'demo', 'aws'));
    expect(iamMock.commandCalls(CreatePolicyVersionCommand)).toHaveLength(1);
  });

  it('prunes the oldest non-default version at the five-version limit', async () => {
    const docs = ['{"v":1}', '{"v":2}', '{"v":3}', '{"v":4}', '{"v":5}'];
    const policy = iam.addPolicy('SSMDevAccess-demo', docs);
    // Make v3 the default: the oldest non-default is v1.
    policy.defaultVersion = 'v3';
    await run();
    expect(iamMock.commandCalls(DeletePolicyVersionCommand)[0]!.args[0].input).toEqual({
      PolicyArn: POLICY_ARN,
      VersionId: 'v1',
    });
    expect(policy.versions.map((v) => v.id)).toEqual(['v2', 'v3', 'v4', 'v5', 'v6']);
    expect(policy.defaultVersion).toBe('v6');
  });

  it('refuses a same-named user that is not tagged with this lab, without touching its password', async () => {
    iam.addUser(USER, [{ Key: 'team', Value: 'other' }]);
    await expect(run()).rejects.toMatchObject({
      name: 'LabStateMismatch',
      message: expect.stringContaining(USER),
    });
    expect(iamMock.commandCalls(CreateLoginProfileCommand)).toHaveLength(0);
    expect(secrets.values.size).toBe(0);
  });

  it('throws NotReadyYet while the login profile is temporarily unmodifiable', async () => {
    await run();
    iamMock.on(UpdateLoginProfileCommand).rejects(awsError('EntityTemporarilyUnmodifiableException'));
    await expect(run({ runId: 'provision-demo-2' })).rejects.toMatchObject({ name: 'NotReadyYet' });
  });

  it('fails with LabStateMismatch naming the policy when an attachment does not show up', async () => {
    // Attach "succeeds" but IAMUserChangePassword never appears in the list.
    iamMock.on(AttachUserPolicyCommand).callsFake(({ UserName, PolicyArn }) => {
      if (PolicyArn !== MANAGED_POLICIES.userChangePassword) iam.users.get(UserName)!.attached.add(PolicyArn);
      return {};
    });
    await expect(run()).rejects.toMatchObject({
      name: 'LabStateMismatch',
      message: expect.stringContaining(MANAGED_POLICIES.userChangePassword),
    });
  });

  it('detaches the seed’s read-only managed policies from a user an earlier release gave them, and only those', async () => {
    await run();
    for (const arn of SEED_READ_ONLY) iam.users.get(USER)!.attached.add(arn);
    iam.users.get(USER)!.attached.add('arn:aws:iam::aws:policy/ReadOnlyAccess'); // someone else's doing
    await expect(run({ runId: 'provision-demo-2' })).resolves.toMatchObject({
      attachedPolicies: [...REQUIRED, 'arn:aws:iam::aws:policy/ReadOnlyAccess'].sort(),
    });
    expect(inputsOf(iamMock, DetachUserPolicyCommand).map((input) => input.PolicyArn)).toEqual(
      SEED_READ_ONLY,
    );
    expect(iamMock.commandCalls(AttachUserPolicyCommand)).toHaveLength(REQUIRED.length); // the first run's
  });

  it('re-attaches a policy someone detached', async () => {
    await run();
    iam.users.get(USER)!.attached.delete(MANAGED_POLICIES.userChangePassword);
    await expect(run()).resolves.toMatchObject({ attachedPolicies: REQUIRED });
    expect(iamMock.commandCalls(DetachUserPolicyCommand)).toHaveLength(0);
  });

  it('propagates throttling', async () => {
    iamMock.on(ListAttachedUserPoliciesCommand).rejects(awsError('Throttling', 'Rate exceeded'));
    await expect(run()).rejects.toMatchObject({ name: 'Throttling' });
  });
});

describe('createWorkshopUser while IAM propagates the new user', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  const notVisible = (userName: string) =>
    awsError('NoSuchEntityException', `The user with name ${userName} cannot be found.`);

  /** CreateLoginProfile refused `times` times as IAM does for a user it has not propagated, then served. */
  function loginProfileInvisibleFor(times: number) {
    let refused = 0;
    iamMock.on(CreateLoginProfileCommand).callsFake(({ UserName, Password, PasswordResetRequired }) => {
      if (refused++ < times) throw notVisible(UserName!);
      iam.user(UserName!).loginProfile = { password: Password!, resetRequired: PasswordResetRequired! };
      return {};
    });
  }

  const iamCalls = () => iamMock.calls().map((call) => (call.args[0] as object).constructor.name);

  it('re-sends CreateLoginProfile in the same invocation; nothing else is repeated', async () => {
    loginProfileInvisibleFor(2);

    const { output, error, waitedMs } = await runOnFakeClock(run);

    expect(error).toBeUndefined();
    expect(output).toMatchObject({ userName: USER, attachedPolicies: REQUIRED });
    expect(iam.users.get(USER)!.loginProfile).toEqual({
      password: secrets.values.get(SECRET),
      resetRequired: true,
    });
    // The work that does not need the user visible runs before the first CreateLoginProfile.
    expect(iamCalls()).toEqual([
      'GetUserCommand',
      'CreateUserCommand',
      'GetPolicyCommand',
      'CreatePolicyCommand',
      'GetAccountPasswordPolicyCommand',
      'CreateLoginProfileCommand',
      'CreateLoginProfileCommand',
      'CreateLoginProfileCommand',
      ...REQUIRED.map(() => 'AttachUserPolicyCommand'),
      'ListAttachedUserPoliciesCommand',
    ]);
    expect(iamMock.commandCalls(CreateUserCommand)).toHaveLength(1);
    expect(iamMock.commandCalls(GetUserCommand)).toHaveLength(1);
    expect(iamMock.commandCalls(GetAccountPasswordPolicyCommand)).toHaveLength(1);
    expect(
      secretsMock.commandCalls(CreateSecretCommand).length +
        secretsMock.commandCalls(PutSecretValueCommand).length,
    ).toBe(1);
    // 5 s, then 5-10 s: refused writes are spaced out (each spends an IAM write token).
    expect(waitedMs).toBeGreaterThanOrEqual(10_000);
    expect(waitedMs).toBeLessThanOrEqual(15_000);
  });

  it('re-sends an AttachUserPolicy IAM refuses for the new user', async () => {
    let refused = false;
    iamMock.on(AttachUserPolicyCommand).callsFake(({ UserName, PolicyArn }) => {
      if (!refused) {
        refused = true;
        throw notVisible(UserName!);
      }
      iam.user(UserName!).attached.add(PolicyArn!);
      return {};
    });

    const { output, error } = await runOnFakeClock(run);

    expect(error).toBeUndefined();
    expect(output).toMatchObject({ attachedPolicies: REQUIRED });
    expect(iamMock.commandCalls(AttachUserPolicyCommand)).toHaveLength(REQUIRED.length + 1);
    expect(iamMock.commandCalls(CreateUserCommand)).toHaveLength(1);
  });

  it('throws IamNotPropagatedYet once the budget is spent, after storing the password, attaching nothing', async () => {
    iamMock.on(CreateLoginProfileCommand).rejects(notVisible(USER));

    const { error, waitedMs } = await runOnFakeClock(run);

    expect(error).toMatchObject({ name: 'IamNotPropagatedYet', message: expect.stringContaining(USER) });
    expect(waitedMs).toBeGreaterThan(15_000);
    expect(waitedMs).toBeLessThanOrEqual(30_000);
    // 5 s, then 5-10 s apart: a few attempts, not a tight loop.
    expect(iamMock.commandCalls(CreateLoginProfileCommand).length).toBeGreaterThanOrEqual(3);
    expect(iamMock.commandCalls(CreateLoginProfileCommand).length).toBeLessThanOrEqual(6);
    expect(secrets.values.get(SECRET)).toBeDefined();
    expect(iamMock.commandCalls(AttachUserPolicyCommand)).toHaveLength(0);
  });

  it('does not wait for a user it adopted: IamNotPropagatedYet at once', async () => {
    iam.addUser(USER, labTags('demo'));
    iamMock.on(CreateLoginProfileCommand).rejects(notVisible(USER));

    const { error, waitedMs } = await runOnFakeClock(run);

    expect(error).toMatchObject({ name: 'IamNotPropagatedYet' });
    expect(iamMock.commandCalls(CreateLoginProfileCommand)).toHaveLength(1);
    expect(waitedMs).toBe(0);
  });

  it('fails at once on an error other than NoSuchEntity', async () => {
    iamMock.on(CreateLoginProfileCommand).rejects(awsError('PasswordPolicyViolationException'));

    const { error, waitedMs } = await runOnFakeClock(run);

    expect(error).toMatchObject({ name: 'PasswordPolicyViolationException' });
    expect(iamMock.commandCalls(CreateLoginProfileCommand)).toHaveLength(1);
    expect(waitedMs).toBe(0);
  });
});
