/** Tag keys every session-lab resource carries; teardown and the leftovers check find resources by them. */
export const TAG_LAB_ID = 'session-lab:lab-id';
export const TAG_MANAGED_BY = 'session-lab:managed-by';
export const MANAGED_BY = 'session-lab';
/**
 * The provisioning run (execution name) a resource belongs to: an instance launched by it (a re-run
 * of the same run finds and reuses it, while a reset, a new run id, launches new instances), the
 * workshop user's password secret once the run set that password (a retry keeps it).
 */
export const TAG_RUN_ID = 'session-lab:run-id';

/** The `{Key, Value}` shape shared by EC2, SSM, IAM and Secrets Manager. */
export interface Tag {
  Key: string;
  Value: string;
}

/** Tags of a per-lab resource, plus any extra (`Name`, `Environment`). */
export function labTags(labId: string, extra: Record<string, string> = {}): Tag[] {
  return toTagList({ [TAG_LAB_ID]: labId, [TAG_MANAGED_BY]: MANAGED_BY, ...extra });
}

/** Tags of an account-wide resource shared by all labs: managed by session-lab, owned by no lab. */
export function sharedTags(extra: Record<string, string> = {}): Tag[] {
  return toTagList({ [TAG_MANAGED_BY]: MANAGED_BY, ...extra });
}

export function toTagList(record: Record<string, string>): Tag[] {
  return Object.entries(record).map(([Key, Value]) => ({ Key, Value }));
}

/** The `{key: value}` shape CloudWatch Logs wants, and the easy one to assert on. */
export function toTagRecord(
  tags: readonly { Key?: string; Value?: string }[] | undefined,
): Record<string, string> {
  const record: Record<string, string> = {};
  for (const { Key, Value } of tags ?? []) if (Key !== undefined) record[Key] = Value ?? '';
  return record;
}
