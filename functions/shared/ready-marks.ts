import type { LabRegistry } from './registry.js';
import { SHARED_KEYS, type ReadyMarks } from './shared-resources.js';

/**
 * A shared role's readiness marks in the lab registry (SHARED_KEYS.sharedRoles holds both roles,
 * so each has its own mark), or none without a registry: the other labs then check IAM itself.
 * The value is the task's output: names and ARNs.
 */
export function sharedRoleMarks<T extends object>(
  registry: LabRegistry | undefined,
  roleName: string,
): ReadyMarks<T> | undefined {
  if (!registry) return undefined;
  const key = `${SHARED_KEYS.sharedRoles}/${roleName}`;
  return {
    read: async (heldSince) => (await registry.readyValue(key, heldSince)) as T | undefined,
    mark: (heldSince, value) => registry.markReady(key, heldSince, value as Record<string, unknown>),
  };
}
