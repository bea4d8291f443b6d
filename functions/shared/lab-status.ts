/**
 * The statuses a lab goes through in the registry. A module of their own, importing nothing, so the
 * CLI can show them in `list --help` without loading the DynamoDB clients registry.ts brings.
 */
export const LAB_STATUSES = ['provisioning', 'ready', 'failed', 'tearing-down', 'deleted'] as const;
export type LabStatus = (typeof LAB_STATUSES)[number];
