import type { EmulatorContext, OperationHandler } from '../../context.js';
import { AwsError, type AwsCall } from '../../protocol.js';
import { decodeToken, pageAt, rangeError } from '../paging.js';
import {
  AGENT_VERSION,
  MANAGED_INSTANCE_ID,
  fleet,
  hybridNode,
  type HybridNode,
  type NodeRecord,
} from './fleet.js';
import { listNodes, type NodeFilter } from './nodes.js';

// ---- DescribeInstanceInformation, DeregisterManagedInstance and ManagedInstance tags ----

const FILTER_KEYS = [
  'ActivationIds',
  'AgentVersion',
  'AssociationStatus',
  'IamRole',
  'InstanceIds',
  'PingStatus',
  'PlatformTypes',
  'ResourceType',
  'SourceIds',
  'SourceTypes',
];
const LEGACY_KEYS = [
  'InstanceIds',
  'AgentVersion',
  'PingStatus',
  'PlatformTypes',
  'ActivationIds',
  'IamRole',
  'ResourceType',
  'AssociationStatus',
];
const ENUMS: Record<string, string[]> = {
  PingStatus: ['Online', 'ConnectionLost', 'Inactive'],
  ResourceType: ['EC2Instance', 'ManagedInstance'],
  PlatformTypes: ['Windows', 'Linux', 'MacOS'],
  SourceTypes: ['AWS::EC2::Instance', 'AWS::SSM::ManagedInstance', 'AWS::IoT::Thing'],
};

function readFilters(input: Record<string, unknown>): NodeFilter[] {
  const modern = input.Filters as { Key?: string; Values?: string[] }[] | undefined;
  const legacy = input.InstanceInformationFilterList as { key?: string; valueSet?: string[] }[] | undefined;
  if (modern?.length && legacy?.length) {
    throw new AwsError(
      'InvalidInstanceInformationFilterValue',
      'Filters and InstanceInformationFilterList cannot be used together.',
    );
  }
  const filters: NodeFilter[] = [];
  for (const f of modern ?? []) {
    const key = String(f.Key ?? '');
    const known = FILTER_KEYS.includes(key) || key === 'tag-key' || /^tag:.+/.test(key);
    if (!known) throw new AwsError('InvalidFilterKey', `The filter key ${key} is not valid.`);
    filters.push({ key, values: f.Values ?? [] });
  }
  for (const f of legacy ?? []) {
    const key = String(f.key ?? '');
    if (!LEGACY_KEYS.includes(key))
      throw new AwsError('InvalidFilterKey', `The filter key ${key} is not valid.`);
    filters.push({ key, values: f.valueSet ?? [] });
  }
  const tagFilters = filters.filter((f) => f.key === 'tag-key' || f.key.startsWith('tag:'));
  if (tagFilters.length && tagFilters.length !== filters.length) {
    throw new AwsError('InvalidFilterKey', 'Tag filters cannot be combined with other filter keys.');
  }
  for (const f of filters) {
    if (f.values.length < 1 || f.values.length > 100) {
      throw new AwsError(
        'InvalidInstanceInformationFilterValue',
        `The filter ${f.key} needs between 1 and 100 values.`,
      );
    }
    const allowed = ENUMS[f.key];
    const bad = allowed && f.values.find((v) => !allowed.includes(v));
    if (bad) {
      throw new AwsError(
        'InvalidInstanceInformationFilterValue',
        `The filter value ${bad} is not valid for ${f.key}.`,
      );
    }
    if (f.key === 'InstanceIds') {
      const badId = f.values.find((v) => !/^(i-[0-9a-f]{8,17}|mi-[0-9a-f]{17})$/.test(v));
      if (badId) throw new AwsError('InvalidInstanceId', `Instance Id ${badId} is not valid.`);
    }
  }
  return filters;
}

function matches(record: NodeRecord, filter: NodeFilter): boolean {
  const v = filter.values;
  switch (filter.key) {
    case 'InstanceIds':
      return v.includes(record.nodeId);
    case 'ActivationIds':
      return record.activationId !== undefined && v.includes(record.activationId);
    case 'PingStatus':
      return v.includes(record.pingStatus);
    case 'ResourceType':
      return v.includes(record.resourceType);
    case 'AgentVersion':
      return v.includes(AGENT_VERSION);
    case 'PlatformTypes':
      return v.includes('Linux');
    case 'IamRole':
      return record.iamRole !== undefined && v.includes(record.iamRole);
    case 'SourceIds':
      return v.includes(record.nodeId);
    case 'SourceTypes':
      return v.includes(
        record.resourceType === 'EC2Instance' ? 'AWS::EC2::Instance' : 'AWS::SSM::ManagedInstance',
      );
    case 'AssociationStatus':
      // No associations run in the emulator, so no node has an association status to match.
      return false;
    case 'tag-key':
      return v.some((key) => key in record.tags);
    default: {
      const key = filter.key.slice('tag:'.length);
      return key in record.tags && v.includes(record.tags[key]!);
    }
  }
}

function describeItem(record: NodeRecord) {
  const seconds = (ms: number) => ms / 1000;
  const hybrid = record.resourceType === 'ManagedInstance';
  return {
    InstanceId: record.nodeId,
    PingStatus: record.pingStatus,
    LastPingDateTime: seconds(record.lastPingMs),
    AgentVersion: AGENT_VERSION,
    IsLatestVersion: true,
    PlatformType: 'Linux',
    PlatformName: 'Amazon Linux',
    PlatformVersion: '2023',
    ResourceType: record.resourceType,
    ...(record.iamRole !== undefined ? { IamRole: record.iamRole } : {}),
    ...(hybrid
      ? {
          ActivationId: record.activationId,
          RegistrationDate: seconds(record.registrationDate ?? record.lastPingMs),
          ...(record.name !== undefined ? { Name: record.name } : {}),
        }
      : {}),
    ...(record.ipAddress !== undefined ? { IPAddress: record.ipAddress } : {}),
    ...(record.computerName !== undefined ? { ComputerName: record.computerName } : {}),
    SourceId: record.nodeId,
    SourceType: hybrid ? 'AWS::SSM::ManagedInstance' : 'AWS::EC2::Instance',
    AssociationOverview: { InstanceAssociationStatusAggregatedCount: {} },
  };
}

function managedInstanceId(call: AwsCall, field: string): string {
  const id = String(call.input[field] ?? '');
  if (!MANAGED_INSTANCE_ID.test(id)) {
    throw new AwsError(
      'ValidationException',
      `1 validation error detected: Value '${id}' at '${field.charAt(0).toLowerCase()}${field.slice(1)}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^mi-[0-9a-f]{17}$`,
    );
  }
  return id;
}

/** Tag calls for ManagedInstance resources; the rest (documents, parameters, ...) are moto's. */
function taggedNode(call: AwsCall, ctx: EmulatorContext): HybridNode {
  const id = String(call.input.ResourceId ?? '');
  const node = MANAGED_INSTANCE_ID.test(id) ? hybridNode(ctx, call.region, id) : undefined;
  if (!node)
    throw new AwsError('InvalidResourceId', 'The resource ID is not valid. Verify the ID and try again.');
  return node;
}

const MAX_TAGS = 50;

export const managedNodes: Record<string, OperationHandler> = {
  async DescribeInstanceInformation(call, ctx) {
    const filters = readFilters(call.input);
    const maxResults = call.input.MaxResults === undefined ? 10 : Number(call.input.MaxResults);
    if (maxResults < 5 || maxResults > 50) throw rangeError('maxResults', maxResults, 5, 50);
    const offset = decodeToken('DescribeInstanceInformation', call.input.NextToken);
    const all = (await listNodes(ctx, call.region, filters)).filter((r) =>
      filters.every((f) => matches(r, f)),
    );
    const { page, nextToken } = pageAt(all, 'DescribeInstanceInformation', offset, maxResults);
    return {
      InstanceInformationList: page.map(describeItem),
      ...(nextToken ? { NextToken: nextToken } : {}),
    };
  },

  async DeregisterManagedInstance(call, ctx) {
    const id = managedInstanceId(call, 'InstanceId');
    if (!hybridNode(ctx, call.region, id)) {
      throw new AwsError(
        'InvalidInstanceId',
        `Instance Id ${id} is not valid or the instance is not registered.`,
      );
    }
    // The host's agent keeps its vault: it would need -y (or -clear) to register again.
    fleet(ctx).nodes.delete(id);
    return {};
  },

  async AddTagsToResource(call, ctx) {
    if (call.input.ResourceType !== 'ManagedInstance') return ctx.forward(call);
    const node = taggedNode(call, ctx);
    const tags = (call.input.Tags ?? []) as { Key: string; Value: string }[];
    const next = { ...node.tags, ...Object.fromEntries(tags.map((t) => [t.Key, t.Value])) };
    if (Object.keys(next).length > MAX_TAGS) {
      throw new AwsError(
        'TooManyTagsError',
        `The resource ${node.id} cannot have more than ${MAX_TAGS} tags.`,
      );
    }
    node.tags = next;
    return {};
  },

  async RemoveTagsFromResource(call, ctx) {
    if (call.input.ResourceType !== 'ManagedInstance') return ctx.forward(call);
    const node = taggedNode(call, ctx);
    for (const key of (call.input.TagKeys ?? []) as string[]) delete node.tags[key];
    return {};
  },

  async ListTagsForResource(call, ctx) {
    if (call.input.ResourceType !== 'ManagedInstance') return ctx.forward(call);
    const node = taggedNode(call, ctx);
    return { TagList: Object.entries(node.tags).map(([Key, Value]) => ({ Key, Value })) };
  },
};
