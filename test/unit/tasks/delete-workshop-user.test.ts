import { DeleteUserCommand, IAMClient, ListAttachedUserPoliciesCommand } from '@aws-sdk/client-iam';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { createWorkshopUser } from '../../../functions/create-workshop-user/task.js';
import { deleteWorkshopUser } from '../../../functions/delete-workshop-user/task.js';
import { ACCOUNT, awsError, mockCallerIdentity, testClients, testLab } from '../../helpers/aws-mock.js';
import { FakeIamUsers } from '../../helpers/fake-iam-users.js';
import { FakeSecrets } from '../../helpers/fake-secrets.js';

const iamMock = mockClient(IAMClient);
const secretsMock = mockClient(SecretsManagerClient);
const sts = mockClient(STSClient);
let iam: FakeIamUsers;
let secrets: FakeSecrets;

const USER = 'MyWorkshopUser-demo';
const POLICY_ARN = `arn:aws:iam::${ACCOUNT}:policy/SSMDevAccess-demo`;
const SECRET = 'session-lab/demo/MyWorkshopUser-password';

beforeEach(() => {
  iamMock.reset();
  secretsMock.reset();
  sts.reset();
  mockCallerIdentity(sts);
  iam = new FakeIamUsers(iamMock);
  secrets = new FakeSecrets(secretsMock);
});

const provision = (policyMode: 'strict' | 'seed' = 'strict') =>
  createWorkshopUser({ lab: testLab({ policyMode }) }, testClients());
const teardown = () => deleteWorkshopUser({ labId: 'demo' }, testClients());

describe('deleteWorkshopUser', () => {
  it('removes what create-workshop-user made: user, login profile, attachments, policy, secret', async () => {
    await provision();
    await expect(teardown()).resolves.toEqual({
      userName: USER,
      policyArn: POLICY_ARN,
      passwordSecret: SECRET,
      removed: [`user ${USER}`, `policy ${POLICY_ARN}`, `secret ${SECRET}`],
    });
    expect(iam.users.size).toBe(0);
    expect(iam.policies.size).toBe(0);
    expect(secrets.values.size).toBe(0);
  });

  it('removes what an administrator added: inline policy, access key, group, MFA, SSH key, certificate', async () => {
    await provision();
    const user = iam.users.get(USER)!;
    user.inline.add('extra');
    user.accessKeys.add('AKIAEXAMPLE');
    user.groups.add('students');
    user.mfaDevices.add(`arn:aws:iam::${ACCOUNT}:mfa/${USER}`);
    user.sshKeys.add('APKAEXAMPLE');
    user.signingCertificates.add('CERTEXAMPLE');
    await expect(teardown()).resolves.toMatchObject({ removed: expect.arrayContaining([`user ${USER}`]) });
    expect(iam.users.size).toBe(0);
  });

  it('deletes the non-default policy versions first (a policy changed across modes)', async () => {
    await provision('seed');
    await provision('strict');
    expect(iam.policies.get(POLICY_ARN)!.versions).toHaveLength(2);
    await teardown();
    expect(iam.policies.size).toBe(0);
  });

  it('is a no-op the second time, and when nothing was ever created', async () => {
    await provision();
    await teardown();
    await expect(teardown()).resolves.toMatchObject({ removed: [] });
    expect(iamMock.commandCalls(DeleteUserCommand)).toHaveLength(1);
  });

  it('converges after a crash part-way: the user was deleted, the policy and secret were not', async () => {
    await provision();
    iam.users.get(USER)!.attached.clear();
    delete iam.users.get(USER)!.loginProfile;
    iam.users.delete(USER);
    await expect(teardown()).resolves.toMatchObject({
      removed: [`policy ${POLICY_ARN}`, `secret ${SECRET}`],
    });
  });

  it('treats the user vanishing part-way (a concurrent teardown) as done', async () => {
    await provision();
    iamMock.on(ListAttachedUserPoliciesCommand).callsFake(() => {
      throw awsError('NoSuchEntityException');
    });
    await expect(teardown()).resolves.toMatchObject({
      removed: [`policy ${POLICY_ARN}`, `secret ${SECRET}`],
    });
  });

  it('refuses to delete a same-named user that does not carry the lab tag', async () => {
    iam.addUser(USER, [{ Key: 'team', Value: 'other' }]);
    await expect(teardown()).rejects.toMatchObject({
      name: 'LabStateMismatch',
      message: expect.stringContaining(USER),
    });
    expect(iam.users.has(USER)).toBe(true);
  });

  it('reports a policy attached to a group or role outside session-lab instead of deleting around it', async () => {
    await provision();
    iam.policies.get(POLICY_ARN)!.roles.add('SomeRole');
    await expect(teardown()).rejects.toMatchObject({
      name: 'LabStateMismatch',
      message: expect.stringContaining('role SomeRole'),
    });
  });

  it('propagates throttling', async () => {
    await provision();
    iamMock.on(DeleteUserCommand).rejects(awsError('Throttling', 'Rate exceeded'));
    await expect(teardown()).rejects.toMatchObject({ name: 'Throttling' });
  });
});
