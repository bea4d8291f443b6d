import type { BuildOptions, Plugin } from 'esbuild';

/** Types of esbuild.config.mjs for TypeScript callers (tests, infra). */
export const LAMBDA_TARGET: string;
export const BUNDLE_OPTIONS: BuildOptions;
export const MAX_BUNDLE_BYTES: number;
export function oversized<B extends { bytes: number }>(results: B[]): B[];
export const sdkSchemaKeys: Plugin;
export function functionEntries(dir?: string): Record<string, string>;
export function buildFunctions(options?: { outdir?: string }): Promise<{ name: string; bytes: number }[]>;
