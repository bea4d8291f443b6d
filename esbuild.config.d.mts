import type { BuildOptions } from 'esbuild';

/** Types of esbuild.config.mjs for TypeScript callers (tests, infra). */
export const LAMBDA_TARGET: string;
export const BUNDLE_OPTIONS: BuildOptions;
export function functionEntries(dir?: string): Record<string, string>;
export function buildFunctions(options?: { outdir?: string }): Promise<{ name: string; bytes: number }[]>;
