import {
  CloudWatchLogsClient,
  ListTagsForResourceCommand as ListLogTagsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { DescribeKeyPairsCommand, DescribeTagsCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  GetGroupCommand,
  GetInstanceProfileCommand,
  GetPolicyCommand,
  GetRoleCommand,
  GetUserCommand,
  IAMClient,
} from '@aws-sdk/client-iam';
import {
  DescribeSecretCommand,
  GetResourcePolicyCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { ListTagsForResourceCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { EmulatorContext } from '../context.js';
import { sourcePolicy, type SourcePolicy } from '../services/iam-simulation/policies.js';
import { tagMap } from './context-keys.js';
import { readKey } from './kms.js';
import type { ExistingResource } from './model.js';

/**
 * What IAM reads from an existing resource when it authorizes a request on it: its tags, its
 * resource-based policy and (for IAM and Secrets Manager, whose ARNs carry a path or a random
 * suffix the request does not name) its real ARN. Read from moto, or from the emulator's own
 * state for managed nodes. A resource that does not exist has none of these: the request is
 * authorized on the ARN built from its name, and the service then answers that it is not found.
 */
export interface ResourceFacts {
  arn?: string;
  tags: Record<string, string>;
  resourcePolicy?: SourcePolicy;
  /** A KMS key that was looked up and does not exist. */
  missing?: boolean;
}

const NOT_FOUND = new Set([
  'NoSuchEntity',
  'NoSuchEntityException',
  'ResourceNotFoundException',
  'InvalidResourceId',
  'InvalidKeyPair.NotFound',
  'ParameterNotFound',
  'InvalidDocument',
]);

async function orNothing(read: () => Promise<ResourceFacts>): Promise<ResourceFacts> {
  try {
    return await read();
  } catch (err) {
    if (NOT_FOUND.has((err as Error).name)) return { tags: {} };
    throw err;
  }
}

/** Whether the ARN must be read even when no policy reads tags (a path or suffix, a resource policy). */
export function needsLookup(resource: ExistingResource): boolean {
  return resource.kind.startsWith('iam-') || resource.kind === 'secret' || resource.kind === 'kms-key';
}

export function readResource(ctx: EmulatorContext, resource: ExistingResource): Promise<ResourceFacts> {
  return orNothing(async () => {
    switch (resource.kind) {
      case 'ec2': {
        const { Tags } = await ctx
          .moto(EC2Client, resource.region)
          .send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: [resource.id] }] }));
        return { tags: tagMap(Tags) };
      }
      case 'ec2-key-pair': {
        const { KeyPairs } = await ctx
          .moto(EC2Client, resource.region)
          .send(new DescribeKeyPairsCommand({ KeyNames: [resource.name] }));
        return { tags: tagMap(KeyPairs?.[0]?.Tags) };
      }
      case 'ssm': {
        const { TagList } = await ctx
          .moto(SSMClient, resource.region)
          .send(
            new ListTagsForResourceCommand({ ResourceType: resource.resourceType, ResourceId: resource.id }),
          );
        return { tags: tagMap(TagList) };
      }
      case 'managed-node':
        return { tags: (await ctx.managedNode(resource.region, resource.id))?.tags ?? {} };
      case 'iam-role': {
        const { Role } = await ctx
          .moto(IAMClient, 'us-east-1')
          .send(new GetRoleCommand({ RoleName: resource.name }));
        return { arn: Role?.Arn, tags: tagMap(Role?.Tags) };
      }
      case 'iam-user': {
        const { User } = await ctx
          .moto(IAMClient, 'us-east-1')
          .send(new GetUserCommand({ UserName: resource.name }));
        return { arn: User?.Arn, tags: tagMap(User?.Tags) };
      }
      case 'iam-group': {
        const { Group } = await ctx
          .moto(IAMClient, 'us-east-1')
          .send(new GetGroupCommand({ GroupName: resource.name, MaxItems: 1 }));
        return { arn: Group?.Arn, tags: {} };
      }
      case 'iam-instance-profile': {
        const { InstanceProfile } = await ctx
          .moto(IAMClient, 'us-east-1')
          .send(new GetInstanceProfileCommand({ InstanceProfileName: resource.name }));
        return { arn: InstanceProfile?.Arn, tags: tagMap(InstanceProfile?.Tags) };
      }
      case 'iam-policy': {
        const { Policy } = await ctx
          .moto(IAMClient, 'us-east-1')
          .send(new GetPolicyCommand({ PolicyArn: resource.arn }));
        return { arn: Policy?.Arn, tags: tagMap(Policy?.Tags) };
      }
      case 'secret': {
        const secrets = ctx.moto(SecretsManagerClient, resource.region);
        const described = await secrets.send(new DescribeSecretCommand({ SecretId: resource.id }));
        const { ResourcePolicy } = await secrets.send(
          new GetResourcePolicyCommand({ SecretId: resource.id }),
        );
        return {
          arn: described.ARN,
          tags: tagMap(described.Tags),
          resourcePolicy: ResourcePolicy
            ? sourcePolicy('ResourcePolicy', 'resource', ResourcePolicy)
            : undefined,
        };
      }
      case 'kms-key': {
        // The key policy is the resource policy of every request on a key (kms.ts).
        const key = await readKey(ctx, resource.region, resource.id);
        if (!key) return { tags: {}, missing: true };
        return { arn: key.arn, tags: {}, resourcePolicy: sourcePolicy('KeyPolicy', 'resource', key.policy) };
      }
      case 'log-group': {
        const arn = `arn:aws:logs:${resource.region}:${ctx.accountId}:log-group:${resource.name}`;
        const { tags } = await ctx
          .moto(CloudWatchLogsClient, resource.region)
          .send(new ListLogTagsCommand({ resourceArn: arn }));
        return { tags: tagMap(tags) };
      }
    }
  });
}
