import {
  AttachUserPolicyCommand,
  CreateLoginProfileCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateUserCommand,
  DeactivateMFADeviceCommand,
  DeleteAccessKeyCommand,
  DeleteLoginProfileCommand,
  DeletePolicyCommand,
  DeletePolicyVersionCommand,
  DeleteSigningCertificateCommand,
  DeleteSSHPublicKeyCommand,
  DeleteUserCommand,
  DeleteUserPolicyCommand,
  DetachGroupPolicyCommand,
  DetachRolePolicyCommand,
  DetachUserPolicyCommand,
  GetAccountPasswordPolicyCommand,
  GetLoginProfileCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetUserCommand,
  ListAccessKeysCommand,
  ListAttachedUserPoliciesCommand,
  ListEntitiesForPolicyCommand,
  ListGroupsForUserCommand,
  ListMFADevicesCommand,
  ListPolicyVersionsCommand,
  ListSigningCertificatesCommand,
  ListSSHPublicKeysCommand,
  ListUserPoliciesCommand,
  RemoveUserFromGroupCommand,
  UpdateLoginProfileCommand,
  type IAMClient,
  type Tag,
} from '@aws-sdk/client-iam';
import type { AwsClientStub } from 'aws-sdk-client-mock';
import { ACCOUNT, awsError } from './aws-mock.js';

export interface FakeUser {
  arn: string;
  tags: Tag[];
  loginProfile?: { password: string; resetRequired: boolean };
  attached: Set<string>;
  inline: Set<string>;
  accessKeys: Set<string>;
  groups: Set<string>;
  mfaDevices: Set<string>;
  sshKeys: Set<string>;
  signingCertificates: Set<string>;
}

export interface FakePolicyVersion {
  id: string;
  document: string;
  created: Date;
}

export interface FakePolicy {
  name: string;
  tags: Tag[];
  versions: FakePolicyVersion[];
  defaultVersion: string;
  nextVersion: number;
  /** Groups and roles attached to the policy besides users (users are in FakeUser.attached). */
  groups: Set<string>;
  roles: Set<string>;
}

const AWS_MANAGED = /^arn:aws:iam::aws:policy\//;

/**
 * IAM users and customer-managed policies kept in memory behind an aws-sdk-client-mock stub, with
 * IAM's errors and limits (EntityAlreadyExists, NoSuchEntity, the five-version limit,
 * DeleteConflict while anything is attached; docs/aws-behaviours.md#iam). Stateful, so a task can
 * be run twice, or create and delete can be chained, and the end state asserted.
 */
export class FakeIamUsers {
  readonly users = new Map<string, FakeUser>();
  readonly policies = new Map<string, FakePolicy>();
  /** The account's custom password policy; undefined = the default policy (NoSuchEntity). */
  passwordPolicy: { MinimumPasswordLength: number } | undefined;
  private clock = Date.parse('2026-01-01T00:00:00Z');

  constructor(readonly stub: AwsClientStub<IAMClient>) {
    this.install();
  }

  policyArn(name: string): string {
    return `arn:aws:iam::${ACCOUNT}:policy/${name}`;
  }

  user(name: string): FakeUser {
    const user = this.users.get(name);
    if (!user) throw awsError('NoSuchEntityException', `The user with name ${name} cannot be found.`);
    return user;
  }

  policy(arn: string): FakePolicy {
    const policy = this.policies.get(arn);
    if (!policy)
      throw awsError('NoSuchEntityException', `Policy ${arn} does not exist or is not attachable.`);
    return policy;
  }

  /** Adds a user directly, as another tool or a person would have. */
  addUser(name: string, tags: Tag[] = []): FakeUser {
    const user: FakeUser = {
      arn: `arn:aws:iam::${ACCOUNT}:user/${name}`,
      tags,
      attached: new Set(),
      inline: new Set(),
      accessKeys: new Set(),
      groups: new Set(),
      mfaDevices: new Set(),
      sshKeys: new Set(),
      signingCertificates: new Set(),
    };
    this.users.set(name, user);
    return user;
  }

  /** Adds a customer policy directly, with `documents` as its versions (the last one default). */
  addPolicy(name: string, documents: string[], tags: Tag[] = []): FakePolicy {
    const policy: FakePolicy = {
      name,
      tags,
      versions: [],
      defaultVersion: '',
      nextVersion: 1,
      groups: new Set(),
      roles: new Set(),
    };
    for (const document of documents) this.addVersion(policy, document, true);
    this.policies.set(this.policyArn(name), policy);
    return policy;
  }

  private addVersion(policy: FakePolicy, document: string, setAsDefault: boolean): string {
    const id = `v${policy.nextVersion++}`;
    this.clock += 60_000;
    policy.versions.push({ id, document, created: new Date(this.clock) });
    if (setAsDefault) policy.defaultVersion = id;
    return id;
  }

  private usersAttachedTo(arn: string): string[] {
    return [...this.users].filter(([, user]) => user.attached.has(arn)).map(([name]) => name);
  }

  private install(): void {
    const s = this.stub;
    s.on(CreateUserCommand).callsFake(({ UserName, Tags }) => {
      if (this.users.has(UserName))
        throw awsError('EntityAlreadyExistsException', `User ${UserName} already exists.`);
      const user = this.addUser(UserName, Tags ?? []);
      return { User: { UserName, Arn: user.arn, Tags } };
    });
    s.on(GetUserCommand).callsFake(({ UserName }) => {
      const user = this.user(UserName!);
      return { User: { UserName, Arn: user.arn, Tags: user.tags.length > 0 ? user.tags : undefined } };
    });
    s.on(GetAccountPasswordPolicyCommand).callsFake(() => {
      if (!this.passwordPolicy)
        throw awsError('NoSuchEntityException', 'The Password Policy cannot be found.');
      return { PasswordPolicy: this.passwordPolicy };
    });
    s.on(CreateLoginProfileCommand).callsFake(({ UserName, Password, PasswordResetRequired }) => {
      const user = this.user(UserName!);
      if (user.loginProfile) throw awsError('EntityAlreadyExistsException', 'Login Profile already exists.');
      user.loginProfile = { password: Password!, resetRequired: PasswordResetRequired ?? false };
      return { LoginProfile: { UserName, PasswordResetRequired } };
    });
    s.on(UpdateLoginProfileCommand).callsFake(({ UserName, Password, PasswordResetRequired }) => {
      const user = this.user(UserName);
      if (!user.loginProfile) throw awsError('NoSuchEntityException', 'Login Profile cannot be found.');
      user.loginProfile = { password: Password!, resetRequired: PasswordResetRequired ?? false };
      return {};
    });
    s.on(GetLoginProfileCommand).callsFake(({ UserName }) => {
      const user = this.user(UserName!);
      if (!user.loginProfile) throw awsError('NoSuchEntityException', 'Login Profile cannot be found.');
      return { LoginProfile: { UserName, PasswordResetRequired: user.loginProfile.resetRequired } };
    });
    s.on(DeleteLoginProfileCommand).callsFake(({ UserName }) => {
      const user = this.user(UserName!);
      if (!user.loginProfile) throw awsError('NoSuchEntityException', 'Login Profile cannot be found.');
      delete user.loginProfile;
      return {};
    });

    s.on(CreatePolicyCommand).callsFake(({ PolicyName, PolicyDocument, Tags }) => {
      const arn = this.policyArn(PolicyName!);
      if (this.policies.has(arn))
        throw awsError('EntityAlreadyExistsException', `A policy called ${PolicyName} already exists.`);
      this.addPolicy(PolicyName!, [PolicyDocument!], Tags ?? []);
      return { Policy: { PolicyName, Arn: arn, DefaultVersionId: 'v1' } };
    });
    s.on(GetPolicyCommand).callsFake(({ PolicyArn }) => {
      const policy = this.policy(PolicyArn!);
      return { Policy: { PolicyName: policy.name, Arn: PolicyArn, DefaultVersionId: policy.defaultVersion } };
    });
    s.on(GetPolicyVersionCommand).callsFake(({ PolicyArn, VersionId }) => {
      const version = this.policy(PolicyArn!).versions.find((v) => v.id === VersionId);
      if (!version) throw awsError('NoSuchEntityException', `Policy version ${VersionId} does not exist.`);
      // IAM returns the document URL-encoded.
      return { PolicyVersion: { VersionId, Document: encodeURIComponent(version.document) } };
    });
    s.on(ListPolicyVersionsCommand).callsFake(({ PolicyArn }) => {
      const policy = this.policy(PolicyArn!);
      return {
        Versions: policy.versions.map((v) => ({
          VersionId: v.id,
          CreateDate: v.created,
          IsDefaultVersion: v.id === policy.defaultVersion,
        })),
      };
    });
    s.on(CreatePolicyVersionCommand).callsFake(({ PolicyArn, PolicyDocument, SetAsDefault }) => {
      const policy = this.policy(PolicyArn!);
      if (policy.versions.length >= 5) {
        throw awsError('LimitExceededException', 'A managed policy can have up to 5 versions.');
      }
      const id = this.addVersion(policy, PolicyDocument!, SetAsDefault ?? false);
      return { PolicyVersion: { VersionId: id, IsDefaultVersion: SetAsDefault } };
    });
    s.on(DeletePolicyVersionCommand).callsFake(({ PolicyArn, VersionId }) => {
      const policy = this.policy(PolicyArn!);
      if (VersionId === policy.defaultVersion)
        throw awsError('DeleteConflictException', 'Cannot delete the default version.');
      const index = policy.versions.findIndex((v) => v.id === VersionId);
      if (index < 0) throw awsError('NoSuchEntityException', `Policy version ${VersionId} does not exist.`);
      policy.versions.splice(index, 1);
      return {};
    });
    s.on(ListEntitiesForPolicyCommand).callsFake(({ PolicyArn }) => {
      const policy = this.policy(PolicyArn!);
      return {
        PolicyUsers: this.usersAttachedTo(PolicyArn!).map((UserName) => ({ UserName })),
        PolicyGroups: [...policy.groups].map((GroupName) => ({ GroupName })),
        PolicyRoles: [...policy.roles].map((RoleName) => ({ RoleName })),
      };
    });
    s.on(DeletePolicyCommand).callsFake(({ PolicyArn }) => {
      const policy = this.policy(PolicyArn!);
      const attached = this.usersAttachedTo(PolicyArn!).length + policy.groups.size + policy.roles.size;
      if (attached > 0 || policy.versions.length > 1) {
        throw awsError(
          'DeleteConflictException',
          'Cannot delete a policy attached to entities or with versions.',
        );
      }
      this.policies.delete(PolicyArn!);
      return {};
    });
    s.on(DetachGroupPolicyCommand).callsFake(({ GroupName, PolicyArn }) => {
      this.policy(PolicyArn!).groups.delete(GroupName!);
      return {};
    });
    s.on(DetachRolePolicyCommand).callsFake(({ RoleName, PolicyArn }) => {
      this.policy(PolicyArn!).roles.delete(RoleName!);
      return {};
    });

    s.on(AttachUserPolicyCommand).callsFake(({ UserName, PolicyArn }) => {
      const user = this.user(UserName!);
      if (!AWS_MANAGED.test(PolicyArn!)) this.policy(PolicyArn!);
      user.attached.add(PolicyArn!);
      return {};
    });
    s.on(DetachUserPolicyCommand).callsFake(({ UserName, PolicyArn }) => {
      const user = this.user(UserName!);
      if (!user.attached.delete(PolicyArn!))
        throw awsError('NoSuchEntityException', `${PolicyArn} is not attached.`);
      return {};
    });
    s.on(ListAttachedUserPoliciesCommand).callsFake(({ UserName }) => ({
      AttachedPolicies: [...this.user(UserName!).attached].map((PolicyArn) => ({
        PolicyArn,
        PolicyName: PolicyArn.split('/').at(-1),
      })),
      IsTruncated: false,
    }));
    s.on(ListUserPoliciesCommand).callsFake(({ UserName }) => ({
      PolicyNames: [...this.user(UserName!).inline],
    }));
    s.on(DeleteUserPolicyCommand).callsFake(({ UserName, PolicyName }) => {
      this.user(UserName!).inline.delete(PolicyName!);
      return {};
    });
    s.on(ListAccessKeysCommand).callsFake(({ UserName }) => ({
      AccessKeyMetadata: [...this.user(UserName!).accessKeys].map((AccessKeyId) => ({
        AccessKeyId,
        UserName,
      })),
    }));
    s.on(DeleteAccessKeyCommand).callsFake(({ UserName, AccessKeyId }) => {
      this.user(UserName!).accessKeys.delete(AccessKeyId!);
      return {};
    });
    s.on(ListGroupsForUserCommand).callsFake(({ UserName }) => ({
      Groups: [...this.user(UserName!).groups].map((GroupName) => ({ GroupName })),
    }));
    s.on(RemoveUserFromGroupCommand).callsFake(({ UserName, GroupName }) => {
      this.user(UserName!).groups.delete(GroupName!);
      return {};
    });
    s.on(ListMFADevicesCommand).callsFake(({ UserName }) => ({
      MFADevices: [...this.user(UserName!).mfaDevices].map((SerialNumber) => ({ SerialNumber, UserName })),
    }));
    s.on(DeactivateMFADeviceCommand).callsFake(({ UserName, SerialNumber }) => {
      this.user(UserName!).mfaDevices.delete(SerialNumber!);
      return {};
    });
    s.on(ListSSHPublicKeysCommand).callsFake(({ UserName }) => ({
      SSHPublicKeys: [...this.user(UserName!).sshKeys].map((SSHPublicKeyId) => ({
        SSHPublicKeyId,
        UserName,
      })),
    }));
    s.on(DeleteSSHPublicKeyCommand).callsFake(({ UserName, SSHPublicKeyId }) => {
      this.user(UserName!).sshKeys.delete(SSHPublicKeyId!);
      return {};
    });
    s.on(ListSigningCertificatesCommand).callsFake(({ UserName }) => ({
      Certificates: [...this.user(UserName!).signingCertificates].map((CertificateId) => ({
        CertificateId,
        UserName,
      })),
    }));
    s.on(DeleteSigningCertificateCommand).callsFake(({ UserName, CertificateId }) => {
      this.user(UserName!).signingCertificates.delete(CertificateId!);
      return {};
    });
    s.on(DeleteUserCommand).callsFake(({ UserName }) => {
      const user = this.user(UserName!);
      const leftovers = [
        user.loginProfile ? 'login profile' : '',
        user.attached.size ? 'attached policies' : '',
        user.inline.size ? 'inline policies' : '',
        user.accessKeys.size ? 'access keys' : '',
        user.groups.size ? 'groups' : '',
        user.mfaDevices.size ? 'MFA devices' : '',
        user.sshKeys.size ? 'SSH keys' : '',
        user.signingCertificates.size ? 'signing certificates' : '',
      ].filter(Boolean);
      if (leftovers.length > 0) {
        throw awsError(
          'DeleteConflictException',
          `Cannot delete entity, must remove ${leftovers.join(', ')} first.`,
        );
      }
      this.users.delete(UserName!);
      return {};
    });
  }
}
