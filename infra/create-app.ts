import { fileURLToPath } from 'node:url';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { SessionLabStack } from './stack.js';

/** Where `npm run build` (esbuild.config.mjs) writes the Lambda bundles. */
export const DEFAULT_BUNDLE_DIR = fileURLToPath(new URL('../dist/functions/', import.meta.url));

export interface CreateAppOptions {
  bundleDir?: string;
  /** The cloud assembly directory (cdk.out); the CLI passes its own. */
  outdir?: string;
  stackName?: string;
}

/**
 * The CDK app: one session-lab stack, checked by cdk-nag's AwsSolutions pack on every synth.
 * An unacknowledged finding fails the synth; every acknowledgement carries a written reason.
 */
export function createApp(options: CreateAppOptions = {}): { app: App; stack: SessionLabStack } {
  const app = new App(options.outdir ? { outdir: options.outdir } : {});
  const stack = new SessionLabStack(app, options.stackName ?? 'SessionLab', {
    description: 'session-lab: provisions, verifies, resets and tears down Session Manager labs',
    bundleDir: options.bundleDir ?? DEFAULT_BUNDLE_DIR,
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}
