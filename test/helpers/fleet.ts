import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  EC2Client,
  RunInstancesCommand,
  type Instance,
} from '@aws-sdk/client-ec2';
import {
  AddRoleToInstanceProfileCommand,
  AttachRolePolicyCommand,
  CreateInstanceProfileCommand,
  CreateRoleCommand,
  IAMClient,
} from '@aws-sdk/client-iam';
import {
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  SendCommandCommand,
  SSMClient,
  type GetCommandInvocationCommandOutput,
} from '@aws-sdk/client-ssm';
import { waitFor } from '../../local/emulator/net.js';
import type { Emulator } from '../../local/emulator/index.js';
import { emulatorClientConfig } from './emulator.js';

/** Builders for a simulated fleet in the emulator, all through the AWS SDK. */

export const SSM_CORE = 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore';
export const AMI = 'ami-12c6146b';

export function trustPolicy(service: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { Service: service }, Action: 'sts:AssumeRole' }],
  });
}

export function fleetClients(emulator: Emulator) {
  const config = emulatorClientConfig(emulator);
  return { iam: new IAMClient(config), ec2: new EC2Client(config), ssm: new SSMClient(config) };
}

/** A role trusted by EC2 with `policyArns` attached, in an instance profile of the same name. */
export async function instanceProfile(iam: IAMClient, name: string, policyArns: string[]): Promise<string> {
  await iam.send(
    new CreateRoleCommand({ RoleName: name, AssumeRolePolicyDocument: trustPolicy('ec2.amazonaws.com') }),
  );
  for (const PolicyArn of policyArns)
    await iam.send(new AttachRolePolicyCommand({ RoleName: name, PolicyArn }));
  await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: name }));
  await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: name, RoleName: name }));
  return name;
}

/** The hybrid nodes' role: trusted by ssm.amazonaws.com, as CreateActivation requires. */
export async function serviceRole(iam: IAMClient, name: string): Promise<string> {
  await iam.send(
    new CreateRoleCommand({ RoleName: name, AssumeRolePolicyDocument: trustPolicy('ssm.amazonaws.com') }),
  );
  await iam.send(new AttachRolePolicyCommand({ RoleName: name, PolicyArn: SSM_CORE }));
  return name;
}

export async function securityGroup(ec2: EC2Client, name: string): Promise<string> {
  const { GroupId } = await ec2.send(new CreateSecurityGroupCommand({ GroupName: name, Description: name }));
  return GroupId!;
}

/** Inbound ssh on `targetGroup` from members of `fromGroup`. */
export async function allowSshFrom(ec2: EC2Client, targetGroup: string, fromGroup: string): Promise<void> {
  await ec2.send(
    new AuthorizeSecurityGroupIngressCommand({
      GroupId: targetGroup,
      IpPermissions: [
        { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, UserIdGroupPairs: [{ GroupId: fromGroup }] },
      ],
    }),
  );
}

export async function launch(
  ec2: EC2Client,
  options: { profile?: string; keyName?: string; groups: string[]; tags?: Record<string, string> },
): Promise<Instance> {
  const tags = Object.entries(options.tags ?? {}).map(([Key, Value]) => ({ Key, Value }));
  const { Instances } = await ec2.send(
    new RunInstancesCommand({
      ImageId: AMI,
      InstanceType: 't3.micro',
      MinCount: 1,
      MaxCount: 1,
      SecurityGroupIds: options.groups,
      ...(options.keyName ? { KeyName: options.keyName } : {}),
      ...(options.profile ? { IamInstanceProfile: { Name: options.profile } } : {}),
      ...(tags.length ? { TagSpecifications: [{ ResourceType: 'instance', Tags: tags }] } : {}),
    }),
  );
  return Instances![0]!;
}

export async function pingStatus(ssm: SSMClient, nodeId: string): Promise<string | undefined> {
  const { InstanceInformationList } = await ssm.send(
    new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [nodeId] }] }),
  );
  return InstanceInformationList?.[0]?.PingStatus;
}

export async function waitForPing(ssm: SSMClient, nodeId: string, status = 'Online'): Promise<void> {
  await waitFor(async () => (await pingStatus(ssm, nodeId)) === status, {
    timeoutMs: 10_000,
    intervalMs: 25,
    what: `${nodeId} to be ${status}`,
  });
}

/** Sends an AWS-RunShellScript and polls GetCommandInvocation (through InvocationDoesNotExist) to its end. */
export async function runScript(
  ssm: SSMClient,
  instanceId: string,
  commands: string[],
  extra: Record<string, string[]> = {},
): Promise<GetCommandInvocationCommandOutput> {
  const { Command } = await ssm.send(
    new SendCommandCommand({
      DocumentName: 'AWS-RunShellScript',
      InstanceIds: [instanceId],
      Parameters: { commands, ...extra },
    }),
  );
  let result: GetCommandInvocationCommandOutput | undefined;
  await waitFor(
    async () => {
      try {
        result = await ssm.send(
          new GetCommandInvocationCommand({ CommandId: Command!.CommandId!, InstanceId: instanceId }),
        );
        return !['Pending', 'InProgress', 'Delayed'].includes(result.Status ?? '');
      } catch (err) {
        if ((err as Error).name === 'InvocationDoesNotExist') return false;
        throw err;
      }
    },
    { timeoutMs: 30_000, intervalMs: 25, what: `command ${Command!.CommandId} on ${instanceId}` },
  );
  return result!;
}
