import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import type { Role } from 'aws-cdk-lib/aws-iam';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { statesInvoking } from '../asl.js';
import {
  API_FUNCTIONS,
  LAB_FUNCTIONS,
  apiBundleName,
  functionArnPlaceholder,
  pascalCase,
  type LabFunctionName,
} from '../functions.js';
import { PERMISSIONS, PROGRESS_ACTIONS } from '../permissions.js';
import { createTaskFunction } from './task-function.js';

export { statementOf, wildcardReasons } from './task-function.js';

/** The lab registry as the functions see it (infra/constructs/lab-registry.ts). */
export interface RegistryRefs {
  tableName: string;
  tableArn: string;
  streamArn: string;
  eventBusArn: string;
  deadLetterQueueArn: string;
}

export interface LabFunctionsProps {
  /** Where the esbuild bundles are: `<bundleDir>/<name>/index.mjs` (`npm run build`). */
  bundleDir: string;
  /** How long the functions' logs are kept. */
  logRetention?: RetentionDays;
  /**
   * The lab registry: every task records its step on the lab's item and publishes progress
   * events (functions/shared/registry-progress.ts); the lifecycle tasks keep the registry.
   */
  registry: RegistryRefs;
  /** Extra environment by function (deployment settings such as REVERT_SHARED_ON_LAST_RELEASE). */
  environment?: Partial<Record<LabFunctionName, Record<string, string>>>;
}

/** The values of the stack-resource variables the grants in permissions.ts use. */
export const registryVariables = (registry: RegistryRefs): Record<string, string> => ({
  RegistryTableArn: registry.tableArn,
  RegistryStreamArn: registry.streamArn,
  EventBusArn: registry.eventBusArn,
  LifecycleDeadLetterQueueArn: registry.deadLetterQueueArn,
});

/** The bundles the stack deploys (`LAB_FUNCTIONS` and the API's) that `bundleDir` does not hold. */
export function missingBundles(bundleDir: string): string[] {
  return [
    ...LAB_FUNCTIONS.map(({ name }) => name),
    ...API_FUNCTIONS.map(({ route }) => apiBundleName(route)),
  ].filter((name) => !existsSync(join(bundleDir, name, 'index.mjs')));
}

/**
 * The step name a task records its progress under: the name of the state that runs it, when one
 * state does (a function several states run, record-lab-status, records none of its own).
 */
export function stepNameOf(name: LabFunctionName): string | undefined {
  const states = statesInvoking(functionArnPlaceholder(name));
  return states.length === 1 ? states[0] : undefined;
}

/**
 * Every lab task as a Lambda function built from its esbuild bundle (no Docker), each with its own
 * role holding only the grants `permissions.ts` lists for it, and its own log group with retention.
 * Each knows the lab registry (`REGISTRY_TABLE`); each lab step also records its progress there:
 * `EVENT_BUS_NAME` and `STEP_NAME` in its environment, `dynamodb:UpdateItem` on the table and
 * `events:PutEvents` on the bus in its role.
 */
export class LabFunctions extends Construct {
  readonly functions = new Map<LabFunctionName, LambdaFunction>();
  readonly roles = new Map<LabFunctionName, Role>();

  constructor(scope: Construct, id: string, props: LabFunctionsProps) {
    super(scope, id);
    const missing = missingBundles(props.bundleDir);
    if (missing.length > 0) {
      throw new Error(
        `Missing Lambda bundle(s) in ${props.bundleDir}: ${missing.map((name) => `${name}/index.mjs`).join(', ')}. ` +
          'Run `npm run build` first; a function with no bundle has no functions/<name>/handler.ts yet.',
      );
    }
    const { registry } = props;
    for (const spec of LAB_FUNCTIONS) {
      // The lifecycle's bookkeeping tasks are not lab steps: they record no progress of their own.
      const progress = spec.workflow !== 'lifecycle';
      const step = progress ? stepNameOf(spec.name) : undefined;
      const { fn, role } = createTaskFunction(this, pascalCase(spec.name), {
        bundle: spec.name,
        bundleDir: props.bundleDir,
        description: spec.description,
        timeoutSeconds: spec.timeoutSeconds,
        grants: PERMISSIONS[spec.name],
        variables: registryVariables(registry),
        extraStatements: progress
          ? [
              new PolicyStatement({ actions: [...PROGRESS_ACTIONS.table], resources: [registry.tableArn] }),
              new PolicyStatement({ actions: [...PROGRESS_ACTIONS.bus], resources: [registry.eventBusArn] }),
            ]
          : [],
        environment: {
          REGISTRY_TABLE: registry.tableName,
          ...(progress ? { EVENT_BUS_NAME: registry.eventBusArn } : {}),
          ...(step ? { STEP_NAME: step } : {}),
          ...props.environment?.[spec.name],
        },
        logRetention: props.logRetention,
      });
      this.functions.set(spec.name, fn);
      this.roles.set(spec.name, role);
    }
  }
}
