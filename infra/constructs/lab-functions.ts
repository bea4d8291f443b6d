import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Duration, Fn, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { Effect, PolicyDocument, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { LAB_FUNCTIONS, pascalCase, type LabFunctionName } from '../functions.js';
import {
  PERMISSIONS,
  PROGRESS_ACTIONS,
  WILDCARD_ONLY_ACTIONS,
  WILDCARD_PATTERN_REASONS,
  type Grant,
} from '../permissions.js';

export interface LabFunctionsProps {
  /** Where the esbuild bundles are: `<bundleDir>/<name>/index.mjs` (`npm run build`). */
  bundleDir: string;
  /** How long the functions' logs are kept. */
  logRetention?: RetentionDays;
  /**
   * The lab registry, when the deployment has one: every task then records its step on the lab's
   * item and publishes progress events (functions/shared/registry-progress.ts).
   */
  registry?: { tableName: string; tableArn: string; eventBusArn: string };
}

/** An ARN pattern as a CloudFormation value: `Fn::Sub` when it names pseudo parameters. */
const cfnValue = (value: string) => (value.includes('${') ? Fn.sub(value) : value);

/** The grant as a policy statement, ARN patterns (in resources and conditions) substituted. */
function statementOf(grant: Grant): PolicyStatement {
  const conditions = Object.fromEntries(
    Object.entries(grant.conditions ?? {}).map(([operator, keys]) => [
      operator,
      Object.fromEntries(
        Object.entries(keys).map(([key, value]) => [
          key,
          Array.isArray(value) ? value.map(cfnValue) : cfnValue(value),
        ]),
      ),
    ]),
  );
  return new PolicyStatement({
    effect: Effect.ALLOW,
    actions: grant.actions,
    resources: grant.resources.map(cfnValue),
    conditions: grant.conditions ? conditions : undefined,
  });
}

/**
 * The written reason for every wildcard resource in a function's grants, keyed by the cdk-nag
 * finding id (AwsSolutions-IAM5[Resource::...]). Throws for a pattern nobody has justified.
 */
export function wildcardReasons(grants: readonly Grant[]): Map<string, string> {
  const reasons = new Map<string, Set<string>>();
  for (const grant of grants) {
    for (const resource of grant.resources) {
      if (!resource.includes('*')) continue;
      const finding = `AwsSolutions-IAM5[Resource::${resource.replace(/\$\{(AWS::[A-Za-z]+)\}/g, '<$1>')}]`;
      const why =
        resource === '*'
          ? grant.actions.map((action) => {
              const reason = WILDCARD_ONLY_ACTIONS[action];
              if (!reason) throw new Error(`${action} is granted on '*' but is not in WILDCARD_ONLY_ACTIONS`);
              return `${action}: ${reason}`;
            })
          : [WILDCARD_PATTERN_REASONS[resource]];
      if (why.some((reason) => !reason))
        throw new Error(`${resource} has no reason in WILDCARD_PATTERN_REASONS`);
      const known = reasons.get(finding) ?? new Set<string>();
      for (const reason of why) known.add(reason!);
      reasons.set(finding, known);
    }
  }
  return new Map([...reasons].map(([finding, why]) => [finding, [...why].join('; ')]));
}

/**
 * Tasks write secrets (activation codes, the private key, the password) and pass on names only;
 * none ever reads one back. SecureString parameters and secrets are decrypted through KMS on the
 * caller's behalf, so denying that decryption makes "no task can read a secret" hold even where a
 * grant allows GetParameter (used to check that a parameter exists).
 */
const neverDecryptSecrets = () =>
  new PolicyStatement({
    effect: Effect.DENY,
    actions: ['kms:Decrypt', 'secretsmanager:GetSecretValue'],
    resources: ['*'],
    conditions: {
      StringEqualsIfExists: {
        'kms:ViaService': [
          Fn.sub('ssm.${AWS::Region}.amazonaws.com'),
          Fn.sub('secretsmanager.${AWS::Region}.amazonaws.com'),
        ],
      },
    },
  });

/** The bundles `LAB_FUNCTIONS` lists that `bundleDir` does not hold. */
export function missingBundles(bundleDir: string): LabFunctionName[] {
  return LAB_FUNCTIONS.filter(({ name }) => !existsSync(join(bundleDir, name, 'index.mjs'))).map(
    ({ name }) => name,
  );
}

/**
 * Every lab task as a Lambda function built from its esbuild bundle (no Docker), each with its own
 * role holding only the grants `permissions.ts` lists for it, and its own log group with retention.
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

    for (const spec of LAB_FUNCTIONS) {
      const id = pascalCase(spec.name);
      const logGroup = new LogGroup(this, `${id}Logs`, {
        retention: props.logRetention ?? RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      const statements = PERMISSIONS[spec.name].map(statementOf);
      statements.push(
        new PolicyStatement({
          actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          resources: [logGroup.logGroupArn],
        }),
        neverDecryptSecrets(),
      );
      if (props.registry) {
        statements.push(
          new PolicyStatement({ actions: [...PROGRESS_ACTIONS.table], resources: [props.registry.tableArn] }),
          new PolicyStatement({
            actions: [...PROGRESS_ACTIONS.bus],
            resources: [props.registry.eventBusArn],
          }),
        );
      }
      const role = new Role(this, `${id}Role`, {
        assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
        description: `session-lab ${spec.name}: only what this task calls`,
        inlinePolicies: { [spec.name]: new PolicyDocument({ statements }) },
      });
      for (const [finding, reason] of wildcardReasons(PERMISSIONS[spec.name])) {
        Validations.of(role).acknowledge({ id: finding, reason });
      }
      const fn = new LambdaFunction(this, id, {
        description: `session-lab: ${spec.description}`,
        runtime: Runtime.NODEJS_24_X,
        architecture: Architecture.ARM_64,
        handler: 'index.handler',
        code: Code.fromAsset(join(props.bundleDir, spec.name)),
        memorySize: 256,
        timeout: Duration.seconds(spec.timeoutSeconds),
        role,
        logGroup,
        environment: {
          NODE_OPTIONS: '--enable-source-maps',
          ...(props.registry
            ? { REGISTRY_TABLE: props.registry.tableName, EVENT_BUS_NAME: props.registry.eventBusArn }
            : {}),
        },
      });
      this.functions.set(spec.name, fn);
      this.roles.set(spec.name, role);
    }
  }
}
