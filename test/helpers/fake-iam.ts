import {
  AddRoleToInstanceProfileCommand,
  AttachRolePolicyCommand,
  CreateInstanceProfileCommand,
  CreateRoleCommand,
  DetachRolePolicyCommand,
  EntityAlreadyExistsException,
  GetInstanceProfileCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  IAMClient,
  LimitExceededException,
  ListAttachedRolePoliciesCommand,
  NoSuchEntityException,
  PutRolePermissionsBoundaryCommand,
  PutRolePolicyCommand,
  UpdateAssumeRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { mockClient } from 'aws-sdk-client-mock';
import { TEST_ACCOUNT } from './aws.js';

const meta = { $metadata: {} };

interface FakeRole {
  trust: string;
  attached: Set<string>;
  tags: { Key?: string; Value?: string }[];
  /** Inline policies by name (documents as put); absent on roles set up before this existed. */
  inline?: Map<string, string>;
  /** The permissions boundary's policy ARN, when the role has one. */
  boundary?: string;
}

/**
 * A small in-memory IAM behind aws-sdk-client-mock: roles, attachments, instance profiles, with
 * AWS's errors (EntityAlreadyExists, NoSuchEntity, LimitExceeded for a second role in a profile)
 * and GetRole's URL-encoded trust policy. Enough to run a task twice and see it converge.
 */
export class FakeIam {
  readonly client = new IAMClient({ region: 'us-east-1' });
  readonly mock = mockClient(this.client);
  readonly roles = new Map<string, FakeRole>();
  readonly profiles = new Map<string, string[]>();

  constructor() {
    this.install();
  }

  /** Writes performed so far, by command name. */
  writes(): string[] {
    const reads = new Set([
      'GetRoleCommand',
      'GetRolePolicyCommand',
      'GetInstanceProfileCommand',
      'ListAttachedRolePoliciesCommand',
    ]);
    return this.mock
      .calls()
      .map((call) => (call.args[0] as object).constructor.name)
      .filter((name) => !reads.has(name));
  }

  roleArn(name: string): string {
    return `arn:aws:iam::${TEST_ACCOUNT}:role/${name}`;
  }

  private role(name: string): FakeRole {
    const role = this.roles.get(name);
    if (!role)
      throw new NoSuchEntityException({ ...meta, message: `The role with name ${name} cannot be found.` });
    return role;
  }

  install(): void {
    const m = this.mock;
    m.reset();
    m.on(CreateRoleCommand).callsFake((input) => {
      if (this.roles.has(input.RoleName)) {
        throw new EntityAlreadyExistsException({
          ...meta,
          message: `Role with name ${input.RoleName} already exists.`,
        });
      }
      this.roles.set(input.RoleName, {
        trust: input.AssumeRolePolicyDocument,
        attached: new Set(),
        tags: input.Tags ?? [],
        boundary: input.PermissionsBoundary,
      });
      return { Role: this.describe(input.RoleName) };
    });
    m.on(GetRoleCommand).callsFake((input) => {
      this.role(input.RoleName);
      return { Role: this.describe(input.RoleName) };
    });
    m.on(UpdateAssumeRolePolicyCommand).callsFake((input) => {
      this.role(input.RoleName).trust = input.PolicyDocument;
      return {};
    });
    m.on(PutRolePermissionsBoundaryCommand).callsFake((input) => {
      this.role(input.RoleName).boundary = input.PermissionsBoundary;
      return {};
    });
    m.on(AttachRolePolicyCommand).callsFake((input) => {
      this.role(input.RoleName).attached.add(input.PolicyArn);
      return {};
    });
    m.on(DetachRolePolicyCommand).callsFake((input) => {
      this.role(input.RoleName).attached.delete(input.PolicyArn);
      return {};
    });
    m.on(PutRolePolicyCommand).callsFake((input) => {
      const role = this.role(input.RoleName);
      role.inline ??= new Map();
      role.inline.set(input.PolicyName, input.PolicyDocument);
      return {};
    });
    m.on(GetRolePolicyCommand).callsFake((input) => {
      const document = this.role(input.RoleName).inline?.get(input.PolicyName);
      if (document === undefined)
        throw new NoSuchEntityException({
          ...meta,
          message: `The role policy ${input.PolicyName} cannot be found.`,
        });
      // IAM returns the document URL-encoded, as GetRole does the trust policy.
      return {
        RoleName: input.RoleName,
        PolicyName: input.PolicyName,
        PolicyDocument: encodeURIComponent(document),
      };
    });
    m.on(ListAttachedRolePoliciesCommand).callsFake((input) => ({
      AttachedPolicies: [...this.role(input.RoleName).attached].map((arn) => ({
        PolicyArn: arn,
        PolicyName: arn.split('/').pop(),
      })),
      IsTruncated: false,
    }));
    m.on(CreateInstanceProfileCommand).callsFake((input) => {
      if (this.profiles.has(input.InstanceProfileName)) {
        throw new EntityAlreadyExistsException({ ...meta, message: 'Instance Profile already exists.' });
      }
      this.profiles.set(input.InstanceProfileName, []);
      return {};
    });
    m.on(GetInstanceProfileCommand).callsFake((input) => {
      const roles = this.profiles.get(input.InstanceProfileName);
      if (!roles) throw new NoSuchEntityException({ ...meta, message: 'Instance Profile cannot be found.' });
      return {
        InstanceProfile: {
          InstanceProfileName: input.InstanceProfileName,
          Arn: `arn:aws:iam::${TEST_ACCOUNT}:instance-profile/${input.InstanceProfileName}`,
          Roles: roles.map((name) => this.describe(name)),
        },
      };
    });
    m.on(AddRoleToInstanceProfileCommand).callsFake((input) => {
      const roles = this.profiles.get(input.InstanceProfileName);
      if (!roles) throw new NoSuchEntityException({ ...meta, message: 'Instance Profile cannot be found.' });
      this.role(input.RoleName);
      if (roles.length > 0) {
        throw new LimitExceededException({
          ...meta,
          message: 'Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1',
        });
      }
      roles.push(input.RoleName);
      return {};
    });
  }

  /** GetRole's view of a role: the trust policy URL-encoded, as IAM returns it. */
  private describe(name: string) {
    const role = this.role(name);
    return {
      RoleName: name,
      RoleId: `AROA${name.toUpperCase()}`,
      Path: '/',
      Arn: this.roleArn(name),
      CreateDate: new Date(0),
      AssumeRolePolicyDocument: encodeURIComponent(role.trust),
      Tags: role.tags,
      ...(role.boundary
        ? {
            PermissionsBoundary: {
              PermissionsBoundaryType: 'Policy' as const,
              PermissionsBoundaryArn: role.boundary,
            },
          }
        : {}),
    };
  }
}
