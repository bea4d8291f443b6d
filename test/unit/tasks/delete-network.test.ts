import {
  DeleteKeyPairCommand,
  DeleteSecurityGroupCommand,
  DescribeKeyPairsCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  RevokeSecurityGroupIngressCommand,
  type IpPermission,
} from '@aws-sdk/client-ec2';
import { DeleteParameterCommand, GetParametersByPathCommand, SSMClient } from '@aws-sdk/client-ssm';
import {
  DeleteInstanceProfileCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  GetInstanceProfileCommand,
  IAMClient,
  RemoveRoleFromInstanceProfileCommand,
  ListAttachedRolePoliciesCommand,
  ListRolePoliciesCommand,
} from '@aws-sdk/client-iam';
import { mockClient } from 'aws-sdk-client-mock';
import { deleteNetwork, referencesTo } from '../../../functions/delete-network/task.js';
import { awsError, testClients } from '../../helpers/aws-mock.js';

const ec2 = mockClient(EC2Client);
const ssm = mockClient(SSMClient);
const iam = mockClient(IAMClient);

const BOOTSTRAP = 'sg-0aaaaaaaaaaaaaaa1';
const ONPREM = 'sg-0aaaaaaaaaaaaaaa2';
const OTHER = 'sg-0bbbbbbbbbbbbbbb1';

interface Group {
  GroupId: string;
  labId: string;
  IpPermissions: IpPermission[];
}

const sshFrom = (GroupId: string): IpPermission => ({
  IpProtocol: 'tcp',
  FromPort: 22,
  ToPort: 22,
  UserIdGroupPairs: [{ GroupId, Description: 'ssh from bootstrap' }],
});

/**
 * Security groups, key pairs and parameters with EC2's rules: a group referenced by another
 * group's rule, or used by an interface, cannot be deleted (DependencyViolation).
 */
function fakeNetwork(opts: {
  groups: Group[];
  keyPairs: { KeyName: string; labId?: string }[];
  parameters: string[];
}) {
  const state = { ...opts, interfacesIn: new Set<string>() };
  ec2.on(DescribeSecurityGroupsCommand).callsFake(({ Filters }) => ({
    SecurityGroups: state.groups
      .filter((g) => g.labId === Filters[0].Values[0])
      .map((g) => ({ GroupId: g.GroupId, IpPermissions: g.IpPermissions })),
  }));
  ec2.on(RevokeSecurityGroupIngressCommand).callsFake(({ GroupId, IpPermissions }) => {
    const group = state.groups.find((g) => g.GroupId === GroupId);
    if (!group) throw awsError('InvalidGroup.NotFound');
    const revoked = new Set(
      IpPermissions.flatMap((p: IpPermission) => p.UserIdGroupPairs!.map((u) => u.GroupId)),
    );
    group.IpPermissions = group.IpPermissions.map((p) => ({
      ...p,
      UserIdGroupPairs: p.UserIdGroupPairs?.filter((u) => !revoked.has(u.GroupId)),
    })).filter((p) => p.UserIdGroupPairs?.length || p.IpRanges?.length);
    return { Return: true };
  });
  ec2.on(DeleteSecurityGroupCommand).callsFake(({ GroupId }) => {
    const i = state.groups.findIndex((g) => g.GroupId === GroupId);
    if (i < 0) throw awsError('InvalidGroup.NotFound');
    const referenced = state.groups.some((g) =>
      g.IpPermissions.some((p) => p.UserIdGroupPairs?.some((u) => u.GroupId === GroupId)),
    );
    if (referenced || state.interfacesIn.has(GroupId)) {
      throw awsError('DependencyViolation', `resource ${GroupId} has a dependent object`);
    }
    state.groups.splice(i, 1);
    return {};
  });
  ec2.on(DescribeKeyPairsCommand).callsFake(({ Filters, KeyNames }) => {
    if (KeyNames) {
      const found = state.keyPairs.filter((k) => KeyNames.includes(k.KeyName));
      if (found.length === 0) throw awsError('InvalidKeyPair.NotFound');
      return { KeyPairs: found.map(({ KeyName }) => ({ KeyName })) };
    }
    return {
      KeyPairs: state.keyPairs
        .filter((k) => k.labId === Filters[0].Values[0])
        .map(({ KeyName }) => ({ KeyName })),
    };
  });
  ec2.on(DeleteKeyPairCommand).callsFake(({ KeyName }) => {
    state.keyPairs = state.keyPairs.filter((k) => k.KeyName !== KeyName);
    return {};
  });
  ssm.on(GetParametersByPathCommand).callsFake(({ Path }) => ({
    Parameters: state.parameters.filter((p) => p.startsWith(`${Path}/`)).map((Name) => ({ Name })),
  }));
  ssm.on(DeleteParameterCommand).callsFake(({ Name }) => {
    if (!state.parameters.includes(Name)) throw awsError('ParameterNotFound');
    state.parameters = state.parameters.filter((p) => p !== Name);
    return {};
  });
  return state;
}

const labNetwork = () =>
  fakeNetwork({
    groups: [
      { GroupId: BOOTSTRAP, labId: 'demo', IpPermissions: [] },
      {
        GroupId: ONPREM,
        labId: 'demo',
        IpPermissions: [
          sshFrom(BOOTSTRAP),
          { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '10.0.0.0/8' }] },
        ],
      },
      { GroupId: OTHER, labId: 'other', IpPermissions: [] },
    ],
    keyPairs: [
      { KeyName: 'MyKeyPair-demo', labId: 'demo' },
      { KeyName: 'MyKeyPair-other', labId: 'other' },
    ],
    parameters: ['/session-lab/demo/key-pair/private-key', '/session-lab/other/key-pair/private-key'],
  });

beforeEach(() => {
  ec2.reset();
  ssm.reset();
  iam.reset();
  // No bootstrap identity unless a test gives one.
  iam.on(GetInstanceProfileCommand).rejects(awsError('NoSuchEntityException'));
  iam.on(ListRolePoliciesCommand).rejects(awsError('NoSuchEntityException'));
});

describe('referencesTo', () => {
  it('keeps only the group pairs that name the given groups', () => {
    const permissions: IpPermission[] = [
      {
        IpProtocol: 'tcp',
        FromPort: 22,
        ToPort: 22,
        UserIdGroupPairs: [{ GroupId: BOOTSTRAP }, { GroupId: OTHER }],
      },
      { IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
    ];
    expect(referencesTo(permissions, new Set([BOOTSTRAP, ONPREM]))).toEqual([
      { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, UserIdGroupPairs: [{ GroupId: BOOTSTRAP }] },
    ]);
  });
});

describe('deleteNetwork', () => {
  it('revokes the cross-reference, deletes both lab groups, the key pair and its parameter', async () => {
    const state = labNetwork();
    await expect(deleteNetwork({ labId: 'demo' }, testClients())).resolves.toEqual({
      deletedSecurityGroups: [BOOTSTRAP, ONPREM],
      deletedKeyPairs: ['MyKeyPair-demo'],
      deletedParameters: ['/session-lab/demo/key-pair/private-key'],
      deletedBootstrapIdentity: [],
      deletedDevHostIdentities: [],
    });
    expect(state.groups.map((g) => g.GroupId)).toEqual([OTHER]);
    expect(state.keyPairs.map((k) => k.KeyName)).toEqual(['MyKeyPair-other']);
    expect(state.parameters).toEqual(['/session-lab/other/key-pair/private-key']);
  });

  it('finds a key pair by its lab name even without the tag', async () => {
    const state = fakeNetwork({ groups: [], keyPairs: [{ KeyName: 'MyKeyPair-demo' }], parameters: [] });
    await expect(deleteNetwork({ labId: 'demo' }, testClients())).resolves.toMatchObject({
      deletedKeyPairs: ['MyKeyPair-demo'],
    });
    expect(state.keyPairs).toEqual([]);
  });

  it('throws NotReadyYet naming the group while a terminated instance\u2019s interface lingers, then finishes', async () => {
    const state = labNetwork();
    state.interfacesIn.add(ONPREM);
    await expect(deleteNetwork({ labId: 'demo' }, testClients())).rejects.toMatchObject({
      name: 'NotReadyYet',
      message: expect.stringContaining(ONPREM),
    });
    // Progress was kept: the key pair and the other group are gone already.
    expect(state.groups.map((g) => g.GroupId)).toEqual([ONPREM, OTHER]);
    state.interfacesIn.clear();
    await expect(deleteNetwork({ labId: 'demo' }, testClients())).resolves.toMatchObject({
      deletedSecurityGroups: [ONPREM],
      deletedKeyPairs: [],
    });
  });

  it('is a no-op the second time', async () => {
    labNetwork();
    await deleteNetwork({ labId: 'demo' }, testClients());
    await expect(deleteNetwork({ labId: 'demo' }, testClients())).resolves.toEqual({
      deletedSecurityGroups: [],
      deletedKeyPairs: [],
      deletedParameters: [],
      deletedBootstrapIdentity: [],
      deletedDevHostIdentities: [],
    });
  });

  it("removes the bootstrap host's own role and instance profile, by the lab's name", async () => {
    labNetwork();
    const name = 'SessionLabBootstrap-demo';
    iam
      .on(GetInstanceProfileCommand, { InstanceProfileName: name })
      .resolves({ InstanceProfile: { InstanceProfileName: name, Roles: [{ RoleName: name }] } as never });
    iam.on(ListRolePoliciesCommand, { RoleName: name }).resolves({ PolicyNames: ['SessionLabHostGuard'] });
    iam.on(ListAttachedRolePoliciesCommand, { RoleName: name }).resolves({
      AttachedPolicies: [{ PolicyArn: 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore' }],
    });
    await expect(deleteNetwork({ labId: 'demo' }, testClients())).resolves.toMatchObject({
      deletedBootstrapIdentity: [`instance-profile/${name}`, `role/${name}`],
    });
    const forName = iam
      .calls()
      .filter((c) => JSON.stringify(c.args[0].input).includes(`"${name}"`))
      .map((c) => (c.args[0] as object).constructor.name);
    expect(forName).toEqual([
      'GetInstanceProfileCommand',
      'RemoveRoleFromInstanceProfileCommand',
      'DeleteInstanceProfileCommand',
      'ListRolePoliciesCommand',
      'DeleteRolePolicyCommand',
      'ListAttachedRolePoliciesCommand',
      'DetachRolePolicyCommand',
      'DeleteRoleCommand',
    ]);
  });

  it("removes the Dev hosts' own roles and the Dev EC2 host's instance profile, by the lab's name", async () => {
    labNetwork();
    const host = 'SessionLabDevHost-demo';
    const node = 'SessionLabDevNode-demo';
    iam
      .on(GetInstanceProfileCommand, { InstanceProfileName: host })
      .resolves({ InstanceProfile: { InstanceProfileName: host, Roles: [{ RoleName: host }] } as never });
    for (const RoleName of [host, node]) {
      iam
        .on(ListRolePoliciesCommand, { RoleName })
        .resolves({ PolicyNames: ['SessionLabHostGuard', 'SessionLabSessionLogging-us-east-1'] });
      iam.on(ListAttachedRolePoliciesCommand, { RoleName }).resolves({
        AttachedPolicies: [{ PolicyArn: 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore' }],
      });
    }
    await expect(deleteNetwork({ labId: 'demo' }, testClients())).resolves.toMatchObject({
      deletedDevHostIdentities: [`instance-profile/${host}`, `role/${host}`, `role/${node}`],
    });
    const calls = (name: string) =>
      iam
        .calls()
        .filter((c) => JSON.stringify(c.args[0].input).includes(`"${name}"`))
        .map((c) => (c.args[0] as object).constructor.name);
    expect(calls(host)).toEqual([
      'GetInstanceProfileCommand',
      'RemoveRoleFromInstanceProfileCommand',
      'DeleteInstanceProfileCommand',
      'ListRolePoliciesCommand',
      'DeleteRolePolicyCommand',
      'DeleteRolePolicyCommand',
      'ListAttachedRolePoliciesCommand',
      'DetachRolePolicyCommand',
      'DeleteRoleCommand',
    ]);
    expect(calls(node)).toEqual([
      'ListRolePoliciesCommand',
      'DeleteRolePolicyCommand',
      'DeleteRolePolicyCommand',
      'ListAttachedRolePoliciesCommand',
      'DetachRolePolicyCommand',
      'DeleteRoleCommand',
    ]);
  });

  it('counts Dev host roles deleted meanwhile (NoSuchEntity at every step) as removed', async () => {
    labNetwork();
    const host = 'SessionLabDevHost-demo';
    iam
      .on(GetInstanceProfileCommand, { InstanceProfileName: host })
      .resolves({ InstanceProfile: { InstanceProfileName: host, Roles: [{ RoleName: host }] } as never });
    iam.on(ListRolePoliciesCommand, { RoleName: host }).resolves({ PolicyNames: ['SessionLabHostGuard'] });
    for (const command of [
      RemoveRoleFromInstanceProfileCommand,
      DeleteInstanceProfileCommand,
      DeleteRolePolicyCommand,
      DeleteRoleCommand,
    ] as const)
      iam.on(command as never).rejects(awsError('NoSuchEntityException'));
    iam.on(ListAttachedRolePoliciesCommand).rejects(awsError('NoSuchEntityException'));
    await expect(deleteNetwork({ labId: 'demo' }, testClients())).resolves.toMatchObject({
      deletedDevHostIdentities: [`instance-profile/${host}`, `role/${host}`],
    });
  });

  it('treats a group deleted meanwhile as deleted', async () => {
    labNetwork();
    ec2.on(DeleteSecurityGroupCommand).rejects(awsError('InvalidGroup.NotFound'));
    await expect(deleteNetwork({ labId: 'demo' }, testClients())).resolves.toMatchObject({
      deletedSecurityGroups: [BOOTSTRAP, ONPREM],
    });
  });

  it('propagates throttling', async () => {
    labNetwork();
    ec2.on(DeleteSecurityGroupCommand).rejects(awsError('RequestLimitExceeded'));
    await expect(deleteNetwork({ labId: 'demo' }, testClients())).rejects.toMatchObject({
      name: 'RequestLimitExceeded',
    });
  });
});
