import type { ContextValues } from '../services/iam-simulation/policies.js';

/**
 * The request condition keys that come from the request's own parameters: the tags it sets
 * (aws:RequestTag/<key>, aws:TagKeys), and the resource keys read from existing resources
 * (aws:ResourceTag/<key> and the service's own spelling of it). The global keys of the caller are
 * caller.ts requestContext().
 */

export interface TagInput {
  Key?: string;
  Value?: string;
  /** CloudWatch Logs and a few others spell tags in lower case. */
  key?: string;
  value?: string;
}

/** `[{Key, Value}]` (any protocol's spelling) or a `{key: value}` map as a plain map. */
export function tagMap(tags: unknown): Record<string, string> {
  if (!tags) return {};
  if (Array.isArray(tags)) {
    const map: Record<string, string> = {};
    for (const t of tags as TagInput[]) {
      const key = t.Key ?? t.key;
      if (key !== undefined) map[key] = String(t.Value ?? t.value ?? '');
    }
    return map;
  }
  if (typeof tags === 'object')
    return Object.fromEntries(
      Object.entries(tags as Record<string, unknown>).map(([k, v]) => [k, String(v)]),
    );
  return {};
}

/** aws:RequestTag/<key> for each tag and aws:TagKeys; nothing when the request sets no tags. */
export function requestTagContext(tags: Record<string, string>): ContextValues {
  const keys = Object.keys(tags);
  if (keys.length === 0) return {};
  const context: ContextValues = { 'aws:TagKeys': keys };
  for (const [key, value] of Object.entries(tags)) context[`aws:RequestTag/${key}`] = value;
  return context;
}

/** Tag keys a request removes (UntagResource and friends): aws:TagKeys. */
export function tagKeysContext(keys: unknown): ContextValues {
  const list = [keys ?? []].flat().map(String);
  return list.length ? { 'aws:TagKeys': list } : {};
}

/**
 * The service-specific spelling of the resource tag key, beside the global aws:ResourceTag: what
 * the Service Authorization Reference lists for each prefix.
 */
const SERVICE_RESOURCE_TAG: Record<string, string> = {
  ec2: 'ec2:ResourceTag',
  ssm: 'ssm:resourceTag',
  iam: 'iam:ResourceTag',
  // secretsmanager:ResourceTag/<key> is documented too, but the evaluator has no type for it.
};

/** The existing resource's tags as the condition keys an `action` of `prefix` sees. */
export function resourceTagContext(prefix: string, tags: Record<string, string>): ContextValues {
  const own = SERVICE_RESOURCE_TAG[prefix];
  const context: ContextValues = {};
  for (const [key, value] of Object.entries(tags)) {
    context[`aws:ResourceTag/${key}`] = value;
    if (own) context[`${own}/${key}`] = value;
  }
  return context;
}

/** EC2's TagSpecification list (query protocol: `TagSpecification.N.Tag.M.Key`) by resource type. */
export function ec2TagSpecifications(input: {
  TagSpecification?: { ResourceType?: string; Tag?: TagInput[] }[];
}): Map<string, Record<string, string>> {
  const byType = new Map<string, Record<string, string>>();
  for (const spec of [input.TagSpecification ?? []].flat()) {
    if (!spec?.ResourceType) continue;
    byType.set(spec.ResourceType, { ...byType.get(spec.ResourceType), ...tagMap(spec.Tag) });
  }
  return byType;
}
