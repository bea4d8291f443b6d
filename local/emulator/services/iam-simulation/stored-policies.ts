import {
  GetGroupCommand,
  GetGroupPolicyCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  GetUserCommand,
  GetUserPolicyCommand,
  IAMClient,
  ListAttachedGroupPoliciesCommand,
  ListAttachedRolePoliciesCommand,
  ListAttachedUserPoliciesCommand,
  ListGroupPoliciesCommand,
  ListGroupsForUserCommand,
  ListRolePoliciesCommand,
  ListRoleTagsCommand,
  ListUserPoliciesCommand,
  ListUserTagsCommand,
  type Tag,
} from '@aws-sdk/client-iam';
import type { EmulatorContext } from '../../context.js';
import {
  invalidInput,
  noSuchEntity,
  sourcePolicy,
  type PrincipalPolicies,
  type SourcePolicy,
} from './policies.js';

/** Reading a principal's policies (identity, boundary, groups, tags) from moto. */

const awsManagedCache = (ctx: EmulatorContext) =>
  ctx.slice('iam-simulation:aws-managed', () => new Map<string, SourcePolicy>());

/** A managed policy's default version. AWS managed policies never change, so they are read once. */
async function managedPolicy(ctx: EmulatorContext, iam: IAMClient, policyArn: string): Promise<SourcePolicy> {
  const awsManaged = policyArn.startsWith('arn:aws:iam::aws:policy/');
  const cache = awsManagedCache(ctx);
  const cached = cache.get(policyArn);
  if (cached) return cached;
  const { Policy } = await iam.send(new GetPolicyCommand({ PolicyArn: policyArn }));
  const { PolicyVersion } = await iam.send(
    new GetPolicyVersionCommand({ PolicyArn: policyArn, VersionId: Policy?.DefaultVersionId }),
  );
  const policy = {
    ...sourcePolicy(
      Policy?.PolicyName ?? policyArn,
      awsManaged ? 'aws-managed' : 'user-managed',
      PolicyVersion?.Document ?? '{}',
    ),
    arn: policyArn,
  };
  if (awsManaged) cache.set(policyArn, policy);
  return policy;
}

/** Every item of a Marker-paginated IAM list. */
async function allPages<T>(
  fetch: (
    marker: string | undefined,
  ) => Promise<{ items: T[] | undefined; IsTruncated?: boolean; Marker?: string }>,
): Promise<T[]> {
  const items: T[] = [];
  let marker: string | undefined;
  do {
    const page = await fetch(marker);
    items.push(...(page.items ?? []));
    marker = page.IsTruncated ? page.Marker : undefined;
  } while (marker);
  return items;
}

/** Marker-paginated pages of some list, as `allPages` reads them. */
type Pages<T> = (
  marker: string | undefined,
) => Promise<{ items: T[] | undefined; IsTruncated?: boolean; Marker?: string }>;

/**
 * A user's, group's or role's own policies: its attached managed policies, then its inline ones
 * (`inline` reads one inline policy's document).
 */
async function ownPolicies(
  ctx: EmulatorContext,
  iam: IAMClient,
  type: 'user' | 'group' | 'role',
  reads: {
    attached: Pages<{ PolicyArn?: string }>;
    inlineNames: Pages<string>;
    inline: (name: string) => Promise<string | undefined>;
  },
): Promise<SourcePolicy[]> {
  const policies: SourcePolicy[] = [];
  const attached = await allPages(reads.attached);
  for (const p of attached) policies.push(await managedPolicy(ctx, iam, p.PolicyArn!));
  const inline = await allPages(reads.inlineNames);
  for (const name of inline) policies.push(sourcePolicy(name, type, (await reads.inline(name)) ?? '{}'));
  return policies;
}

const userPolicies = (ctx: EmulatorContext, iam: IAMClient, UserName: string) =>
  ownPolicies(ctx, iam, 'user', {
    attached: async (Marker) => {
      const r = await iam.send(new ListAttachedUserPoliciesCommand({ UserName, Marker }));
      return { ...r, items: r.AttachedPolicies };
    },
    inlineNames: async (Marker) => {
      const r = await iam.send(new ListUserPoliciesCommand({ UserName, Marker }));
      return { ...r, items: r.PolicyNames };
    },
    inline: async (PolicyName) =>
      (await iam.send(new GetUserPolicyCommand({ UserName, PolicyName }))).PolicyDocument,
  });

const groupPolicies = (ctx: EmulatorContext, iam: IAMClient, GroupName: string) =>
  ownPolicies(ctx, iam, 'group', {
    attached: async (Marker) => {
      const r = await iam.send(new ListAttachedGroupPoliciesCommand({ GroupName, Marker }));
      return { ...r, items: r.AttachedPolicies };
    },
    inlineNames: async (Marker) => {
      const r = await iam.send(new ListGroupPoliciesCommand({ GroupName, Marker }));
      return { ...r, items: r.PolicyNames };
    },
    inline: async (PolicyName) =>
      (await iam.send(new GetGroupPolicyCommand({ GroupName, PolicyName }))).PolicyDocument,
  });

const rolePolicies = (ctx: EmulatorContext, iam: IAMClient, RoleName: string) =>
  ownPolicies(ctx, iam, 'role', {
    attached: async (Marker) => {
      const r = await iam.send(new ListAttachedRolePoliciesCommand({ RoleName, Marker }));
      return { ...r, items: r.AttachedPolicies };
    },
    inlineNames: async (Marker) => {
      const r = await iam.send(new ListRolePoliciesCommand({ RoleName, Marker }));
      return { ...r, items: r.PolicyNames };
    },
    inline: async (PolicyName) =>
      (await iam.send(new GetRolePolicyCommand({ RoleName, PolicyName }))).PolicyDocument,
  });

const tagMap = (tags: Tag[] | undefined) =>
  Object.fromEntries((tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));

export const PRINCIPAL_ARN = /^arn:aws[\w-]*:iam::(\d{12}):(user|role|group)\/(?:[^/]+\/)*([\w+=,.@-]+)$/;

/**
 * The identity policies of a user (its own and its groups'), a role or a group, read from moto,
 * plus the permissions boundary of a user or role. Unknown principals are NoSuchEntity, as in IAM.
 */
export async function loadPrincipalPolicies(
  ctx: EmulatorContext,
  principalArn: string,
): Promise<PrincipalPolicies> {
  const match = PRINCIPAL_ARN.exec(principalArn);
  if (!match) throw invalidInput(`Invalid ARN for PolicySourceArn: ${principalArn}`);
  const [, account, kind, name] = match as unknown as [string, string, 'user' | 'role' | 'group', string];
  const missing = () => noSuchEntity(`The ${kind} with name ${name} cannot be found.`);
  if (account !== ctx.accountId) throw missing();
  const iam = ctx.moto(IAMClient, 'us-east-1');
  try {
    if (kind === 'user') {
      const { User } = await iam.send(new GetUserCommand({ UserName: name }));
      if (User?.Arn !== principalArn) throw missing();
      const identity = await userPolicies(ctx, iam, name);
      const groups = await allPages(async (Marker) => {
        const r = await iam.send(new ListGroupsForUserCommand({ UserName: name, Marker }));
        return { ...r, items: r.Groups };
      });
      for (const group of groups) identity.push(...(await groupPolicies(ctx, iam, group.GroupName!)));
      const boundaryArn = User.PermissionsBoundary?.PermissionsBoundaryArn;
      const tags = await allPages(async (Marker) => {
        const r = await iam.send(new ListUserTagsCommand({ UserName: name, Marker }));
        return { ...r, items: r.Tags };
      });
      return {
        arn: principalArn,
        kind,
        name,
        id: User.UserId,
        identity,
        boundary: boundaryArn ? [await managedPolicy(ctx, iam, boundaryArn)] : undefined,
        tags: tagMap(tags),
        groups: groups.map((g) => g.GroupName!),
      };
    }
    if (kind === 'role') {
      const { Role } = await iam.send(new GetRoleCommand({ RoleName: name }));
      if (Role?.Arn !== principalArn) throw missing();
      const boundaryArn = Role.PermissionsBoundary?.PermissionsBoundaryArn;
      const tags = await allPages(async (Marker) => {
        const r = await iam.send(new ListRoleTagsCommand({ RoleName: name, Marker }));
        return { ...r, items: r.Tags };
      });
      return {
        arn: principalArn,
        kind,
        name,
        id: Role.RoleId,
        identity: await rolePolicies(ctx, iam, name),
        boundary: boundaryArn ? [await managedPolicy(ctx, iam, boundaryArn)] : undefined,
        tags: tagMap(tags),
      };
    }
    const { Group } = await iam.send(new GetGroupCommand({ GroupName: name }));
    if (Group?.Arn !== principalArn) throw missing();
    return {
      arn: principalArn,
      kind,
      name,
      id: Group.GroupId,
      identity: await groupPolicies(ctx, iam, name),
    };
  } catch (err) {
    if ((err as Error).name === 'NoSuchEntityException') throw missing();
    throw err;
  }
}

/** The identity keys AWS knows for the principal, so `${aws:username}`, principal tags and friends resolve. */
export function principalContext(
  accountId: string,
  p: Pick<PrincipalPolicies, 'arn' | 'kind' | 'name' | 'id' | 'tags'>,
): Record<string, string> {
  const context: Record<string, string> = { 'aws:PrincipalArn': p.arn, 'aws:PrincipalAccount': accountId };
  if (p.kind === 'user') {
    context['aws:username'] = p.name;
    context['aws:PrincipalType'] = 'User';
    if (p.id) context['aws:userid'] = p.id;
  } else if (p.kind === 'role') {
    context['aws:PrincipalType'] = 'AssumedRole';
  }
  for (const [key, value] of Object.entries(p.tags ?? {})) context[`aws:PrincipalTag/${key}`] = value;
  return context;
}
