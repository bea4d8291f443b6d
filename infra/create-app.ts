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
  /** CDK context values (what `cdk deploy -c key=value` passes): see DEPLOY_CONTEXT. */
  context?: Record<string, string>;
}

/**
 * Deployment settings read from the CDK context (`cdk deploy -c resetSchedule='cron(0 2 * * ? *)'`):
 * the nightly reset's schedule expression, the expiry sweep's, whether the last lab to release
 * the account-wide tier and preferences reverts them, and whether lab input may select seed mode.
 */
export const DEPLOY_CONTEXT = [
  'resetSchedule',
  'expirySchedule',
  'revertSharedOnLastRelease',
  'allowSeedPolicyMode',
] as const;

function booleanContext(name: string, value: unknown): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new Error(`${name}: must be true or false, got ${JSON.stringify(value)}`);
}

/**
 * The CDK app: one session-lab stack, checked by cdk-nag's AwsSolutions pack on every synth.
 * An unacknowledged finding fails the synth; every acknowledgement carries a written reason.
 */
export function createApp(options: CreateAppOptions = {}): { app: App; stack: SessionLabStack } {
  const app = new App({
    ...(options.outdir ? { outdir: options.outdir } : {}),
    ...(options.context ? { context: options.context } : {}),
  });
  const context = (name: (typeof DEPLOY_CONTEXT)[number]) => app.node.tryGetContext(name) as unknown;
  const schedule = (name: 'resetSchedule' | 'expirySchedule') => {
    const value = context(name);
    if (value !== undefined && typeof value !== 'string')
      throw new Error(`${name}: must be a schedule expression`);
    return value;
  };
  const stack = new SessionLabStack(app, options.stackName ?? 'SessionLab', {
    description: 'session-lab: provisions, verifies, resets and tears down Session Manager labs',
    bundleDir: options.bundleDir ?? DEFAULT_BUNDLE_DIR,
    resetSchedule: schedule('resetSchedule'),
    expirySchedule: schedule('expirySchedule'),
    revertSharedOnLastRelease: booleanContext(
      'revertSharedOnLastRelease',
      context('revertSharedOnLastRelease'),
    ),
    allowSeedPolicyMode: booleanContext('allowSeedPolicyMode', context('allowSeedPolicyMode')),
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}
