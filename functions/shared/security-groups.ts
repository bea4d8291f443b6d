import {
  DescribeSecurityGroupsCommand,
  RevokeSecurityGroupIngressCommand,
  type EC2Client,
  type IpPermission,
  type SecurityGroup,
} from '@aws-sdk/client-ec2';
import { ignoreErrors } from './errors.js';

/**
 * The lab's hosts accept no inbound traffic except SSH from the bootstrap host's group while
 * registration runs. These helpers find and remove any other ingress on the lab's groups, so a rule
 * added by hand (or 0.0.0.0/0) never survives a provisioning run or the closing of bootstrap access.
 */

/** The one rule the on-prem group may hold: tcp/22 from members of the bootstrap group. */
export function sshFromGroup(sourceGroupId: string): IpPermission {
  return {
    IpProtocol: 'tcp',
    FromPort: 22,
    ToPort: 22,
    UserIdGroupPairs: [{ GroupId: sourceGroupId, Description: 'SSH from the session-lab bootstrap host' }],
  };
}

/** A security group by id, or undefined once it is gone. */
export async function describeGroup(ec2: EC2Client, groupId: string): Promise<SecurityGroup | undefined> {
  const found = await ignoreErrors(
    () => ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] })),
    'InvalidGroup.NotFound',
  );
  return found?.SecurityGroups?.[0];
}

/**
 * The parts of `permissions` (a group's IpPermissions) other than SSH from `allowedSourceGroupId`,
 * in the shape RevokeSecurityGroupIngress takes. With no allowed source, every ingress rule.
 */
export function unexpectedIngress(
  permissions: readonly IpPermission[] | undefined,
  allowedSourceGroupId?: string,
): IpPermission[] {
  const revoke: IpPermission[] = [];
  for (const permission of permissions ?? []) {
    const isSsh = permission.IpProtocol === 'tcp' && permission.FromPort === 22 && permission.ToPort === 22;
    const pairs = (permission.UserIdGroupPairs ?? []).filter(
      (pair) => !(isSsh && allowedSourceGroupId && pair.GroupId === allowedSourceGroupId),
    );
    const rest: IpPermission = {
      IpProtocol: permission.IpProtocol,
      FromPort: permission.FromPort,
      ToPort: permission.ToPort,
    };
    // Sources are passed back as described, descriptions included: AWS matches a rule on its source
    // alone, but moto also compares the description, and then reports nothing revoked.
    if (permission.IpRanges?.length) {
      rest.IpRanges = permission.IpRanges.map(({ CidrIp, Description }) => ({ CidrIp, Description }));
    }
    if (permission.Ipv6Ranges?.length) {
      rest.Ipv6Ranges = permission.Ipv6Ranges.map(({ CidrIpv6, Description }) => ({ CidrIpv6, Description }));
    }
    if (permission.PrefixListIds?.length) {
      rest.PrefixListIds = permission.PrefixListIds.map(({ PrefixListId, Description }) => ({
        PrefixListId,
        Description,
      }));
    }
    if (pairs.length) {
      rest.UserIdGroupPairs = pairs.map(({ GroupId, UserId, Description }) => ({
        GroupId,
        UserId,
        Description,
      }));
    }
    if (rest.IpRanges || rest.Ipv6Ranges || rest.PrefixListIds || rest.UserIdGroupPairs) revoke.push(rest);
  }
  return revoke;
}

/** Revokes the given ingress rules; a rule already gone (InvalidPermission.NotFound) counts as revoked. */
export async function revokeIngress(
  ec2: EC2Client,
  groupId: string,
  permissions: IpPermission[],
): Promise<void> {
  if (permissions.length === 0) return;
  await ignoreErrors(
    () => ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: permissions })),
    'InvalidPermission.NotFound',
  );
}
