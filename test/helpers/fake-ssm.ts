import { randomUUID } from 'node:crypto';
import {
  AddTagsToResourceCommand,
  CreateActivationCommand,
  DeleteActivationCommand,
  DeleteParameterCommand,
  DescribeActivationsCommand,
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  GetParameterCommand,
  InvalidActivation,
  InvalidResourceId,
  InvocationDoesNotExist,
  ListCommandsCommand,
  ListTagsForResourceCommand,
  SendCommandCommand,
  ParameterAlreadyExists,
  ParameterNotFound,
  PutParameterCommand,
  SSMClient,
  type Activation,
  type CommandInvocationStatus,
  type InstanceInformation,
  type SendCommandRequest,
  type DescribeActivationsFilter,
  type Tag,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';

const meta = { $metadata: {} };

export interface FakeParameter {
  value: string;
  type: string;
  tags: Tag[];
  version: number;
}

export interface FakeCommand {
  request: SendCommandRequest;
  /** The one invocation's status (a command to one instance, as register-agents sends). */
  status: CommandInvocationStatus;
  stdout: string;
  stderr: string;
  /** GetCommandInvocation answers InvocationDoesNotExist while false (eventual consistency). */
  visible: boolean;
  requestedAt: Date;
}

export interface FakeActivation extends Activation {
  /** The secret AWS returns once; kept so tests can assert it never leaks. */
  code: string;
}

/**
 * A small in-memory Systems Manager behind aws-sdk-client-mock: parameters (PutParameter refuses
 * Tags with Overwrite, as AWS does) and hybrid activations (the code is returned once, by Create
 * only). Tests extend it per command with `mock.on(...)`.
 */
export class FakeSsm {
  readonly client = new SSMClient({ region: 'us-east-1' });
  readonly mock = mockClient(this.client);
  readonly parameters = new Map<string, FakeParameter>();
  readonly activations = new Map<string, FakeActivation>();
  /** Managed nodes as DescribeInstanceInformation reports them. */
  readonly nodes = new Map<string, InstanceInformation>();
  /** Tags of managed (mi-) nodes, as ListTagsForResource reports them. */
  readonly nodeTags = new Map<string, Tag[]>();
  readonly commands = new Map<string, FakeCommand>();
  /** Every activation code ever issued, deleted activations included. */
  readonly issuedCodes: string[] = [];
  /** CreateActivation refuses this many more calls as SSM does while the role propagates. */
  roleInvisibleFor = 0;

  constructor() {
    const m = this.mock;
    m.on(PutParameterCommand).callsFake((input) => {
      const current = this.parameters.get(input.Name);
      if (current && !input.Overwrite) {
        throw new ParameterAlreadyExists({ ...meta, message: 'The parameter already exists.' });
      }
      if (input.Overwrite && input.Tags)
        throw Object.assign(new Error('Tags and Overwrite'), { name: 'ValidationException' });
      const version = (current?.version ?? 0) + 1;
      this.parameters.set(input.Name, {
        value: input.Value,
        type: input.Type ?? 'String',
        tags: input.Tags ?? current?.tags ?? [],
        version,
      });
      return { Version: version };
    });
    m.on(GetParameterCommand).callsFake((input) => {
      const parameter = this.parameters.get(input.Name);
      if (!parameter) throw new ParameterNotFound({ ...meta, message: '' });
      const hidden = parameter.type === 'SecureString' && !input.WithDecryption;
      return {
        Parameter: {
          Name: input.Name,
          Type: parameter.type,
          Value: hidden ? 'AQICAH...encrypted' : parameter.value,
        },
      };
    });
    m.on(DeleteParameterCommand).callsFake((input) => {
      if (!this.parameters.delete(input.Name)) throw new ParameterNotFound({ ...meta, message: '' });
      return {};
    });
    m.on(CreateActivationCommand).callsFake((input) => {
      if (this.roleInvisibleFor > 0) {
        this.roleInvisibleFor -= 1;
        throw Object.assign(new Error(`Not existing role: arn:aws:iam::123456789012:role/${input.IamRole}`), {
          name: 'ValidationException',
        });
      }
      const id = randomUUID();
      const code = `code${randomUUID().replace(/-/g, '').slice(0, 16)}`;
      this.issuedCodes.push(code);
      this.activations.set(id, {
        ActivationId: id,
        code,
        DefaultInstanceName: input.DefaultInstanceName,
        IamRole: input.IamRole,
        RegistrationLimit: input.RegistrationLimit ?? 1,
        RegistrationsCount: 0,
        ExpirationDate: input.ExpirationDate ?? new Date(Date.now() + 24 * 3600 * 1000),
        Expired: false,
        CreatedDate: new Date(),
        Tags: input.Tags,
        Description: input.Description,
      });
      return { ActivationId: id, ActivationCode: code };
    });
    m.on(DescribeActivationsCommand).callsFake((input) => {
      const all = [...this.activations.values()].filter((activation) =>
        (input.Filters ?? []).every((filter: DescribeActivationsFilter) => {
          const value = {
            ActivationIds: activation.ActivationId,
            DefaultInstanceName: activation.DefaultInstanceName,
            IamRole: activation.IamRole,
          }[filter.FilterKey as 'ActivationIds' | 'DefaultInstanceName' | 'IamRole'];
          return filter.FilterValues?.includes(value!) ?? true;
        }),
      );
      // Two per page, so the tasks' pagination is exercised.
      const start = Number(input.NextToken ?? 0);
      const page = all.slice(start, start + 2);
      return {
        ActivationList: page.map(({ code: _code, ...activation }) => ({
          ...activation,
          Expired: activation.ExpirationDate!.getTime() <= Date.now(),
        })),
        NextToken: start + 2 < all.length ? String(start + 2) : undefined,
      };
    });
    m.on(DeleteActivationCommand).callsFake((input) => {
      if (!this.activations.delete(input.ActivationId)) {
        throw new InvalidActivation({ ...meta, message: 'Activation does not exist' });
      }
      return {};
    });
    m.on(DescribeInstanceInformationCommand).callsFake((input) => {
      const filters = input.Filters ?? [];
      const all = [...this.nodes.values()].filter((node) =>
        filters.every((filter: { Key: string; Values: string[] }) => {
          // Tag filters read the node's tags (ListTagsForResource's), like SSM's `tag:<key>`.
          if (filter.Key.startsWith('tag:')) {
            const key = filter.Key.slice('tag:'.length);
            return (this.nodeTags.get(node.InstanceId!) ?? []).some(
              (tag) => tag.Key === key && filter.Values.includes(tag.Value!),
            );
          }
          const value = { InstanceIds: node.InstanceId, ActivationIds: node.ActivationId }[
            filter.Key as 'InstanceIds'
          ];
          return filter.Values.includes(value ?? '');
        }),
      );
      const start = Number(input.NextToken ?? 0);
      return {
        InstanceInformationList: all.slice(start, start + 2).map((node) => structuredClone(node)),
        NextToken: start + 2 < all.length ? String(start + 2) : undefined,
      };
    });
    m.on(ListTagsForResourceCommand).callsFake((input) => {
      const tags = this.nodeTags.get(input.ResourceId);
      if (input.ResourceType !== 'ManagedInstance' || !tags) {
        throw new InvalidResourceId({ ...meta, message: 'The resource ID is not valid.' });
      }
      return { TagList: structuredClone(tags) };
    });
    m.on(AddTagsToResourceCommand).callsFake((input) => {
      const tags = this.nodeTags.get(input.ResourceId);
      if (input.ResourceType !== 'ManagedInstance' || !tags) {
        throw new InvalidResourceId({ ...meta, message: 'The resource ID is not valid.' });
      }
      const kept = tags.filter((tag) => !input.Tags.some((n: Tag) => n.Key === tag.Key));
      this.nodeTags.set(input.ResourceId, [...kept, ...input.Tags]);
      return {};
    });
    m.on(SendCommandCommand).callsFake((input: SendCommandRequest) => {
      const id = randomUUID();
      this.commands.set(id, {
        request: structuredClone(input),
        status: 'Pending',
        stdout: '',
        stderr: '',
        visible: true,
        requestedAt: new Date(Date.now() + this.commands.size),
      });
      return { Command: { CommandId: id, Status: 'Pending', DocumentName: input.DocumentName } };
    });
    m.on(ListCommandsCommand).callsFake((input) => ({
      Commands: [...this.commands.entries()]
        .filter(
          ([id, command]) =>
            (!input.CommandId || input.CommandId === id) &&
            (!input.InstanceId || command.request.InstanceIds?.includes(input.InstanceId)),
        )
        .map(([id, command]) => ({
          CommandId: id,
          DocumentName: command.request.DocumentName,
          Comment: command.request.Comment,
          Parameters: structuredClone(command.request.Parameters),
          InstanceIds: command.request.InstanceIds,
          Status: command.status,
          RequestedDateTime: command.requestedAt,
        })),
    }));
    m.on(GetCommandInvocationCommand).callsFake((input) => {
      const command = this.commands.get(input.CommandId);
      if (!command || !command.visible || !command.request.InstanceIds?.includes(input.InstanceId)) {
        throw new InvocationDoesNotExist({ ...meta, message: '' });
      }
      const done = !['Pending', 'InProgress', 'Delayed'].includes(command.status);
      return {
        CommandId: input.CommandId,
        InstanceId: input.InstanceId,
        Status: command.status,
        StatusDetails: command.status,
        ResponseCode: done ? (command.status === 'Success' ? 0 : 1) : -1,
        StandardOutputContent: done ? command.stdout : '',
        StandardErrorContent: done ? command.stderr : '',
      };
    });
  }

  /** Every string the fake ever handed out as a secret (activation codes, parameter values). */
  secrets(): string[] {
    return [
      ...this.issuedCodes,
      ...[...this.parameters.values()].filter((p) => p.type === 'SecureString').map((p) => p.value),
    ];
  }
}

/** A managed-node record as DescribeInstanceInformation returns it. */
export function node(instanceId: string, extra: Partial<InstanceInformation> = {}): InstanceInformation {
  return {
    InstanceId: instanceId,
    PingStatus: 'Online',
    ResourceType: instanceId.startsWith('mi-') ? 'ManagedInstance' : 'EC2Instance',
    PlatformType: 'Linux',
    ...extra,
  };
}
