import { join } from 'node:path';
import { Duration, Fn, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { Effect, PolicyDocument, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { WILDCARD_ONLY_ACTIONS, WILDCARD_PATTERN_REASONS, type Grant } from '../permissions.js';

/**
 * One Lambda function of session-lab (a lab task or an API route): built from its esbuild bundle
 * (no Docker), with its own role holding only the grants listed for it in `permissions.ts` (plus
 * its own log group and whatever `extraStatements` adds), and its own log group with retention.
 */
export interface TaskFunctionProps {
  /** The bundle folder under `bundleDir` (`create-key-pair`, `api-create-lab`). */
  bundle: string;
  bundleDir: string;
  description: string;
  timeoutSeconds: number;
  grants: readonly Grant[];
  /** Values of the `${Name}` variables the grants' ARN patterns use besides the pseudo parameters. */
  variables: Record<string, string>;
  extraStatements?: PolicyStatement[];
  environment?: Record<string, string>;
  logRetention?: RetentionDays;
}

/** An ARN pattern as a CloudFormation value: `Fn::Sub` when it names pseudo parameters or stack resources. */
export function cfnValue(value: string, variables: Record<string, string>): string {
  if (!value.includes('${')) return value;
  const used = Object.fromEntries(
    Object.entries(variables).filter(([name]) => value.includes(`\${${name}}`)),
  );
  return Object.keys(used).length ? Fn.sub(value, used) : Fn.sub(value);
}

/** The grant as a policy statement, ARN patterns (in resources and conditions) substituted. */
export function statementOf(grant: Grant, variables: Record<string, string> = {}): PolicyStatement {
  const sub = (value: string) => cfnValue(value, variables);
  const conditions = Object.fromEntries(
    Object.entries(grant.conditions ?? {}).map(([operator, keys]) => [
      operator,
      Object.fromEntries(
        Object.entries(keys).map(([key, value]) => [key, Array.isArray(value) ? value.map(sub) : sub(value)]),
      ),
    ]),
  );
  return new PolicyStatement({
    effect: Effect.ALLOW,
    actions: grant.actions,
    resources: grant.resources.map(sub),
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
export const neverDecryptSecrets = () =>
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

export function createTaskFunction(
  scope: Construct,
  id: string,
  props: TaskFunctionProps,
): { fn: LambdaFunction; role: Role; logGroup: LogGroup } {
  const logGroup = new LogGroup(scope, `${id}Logs`, {
    retention: props.logRetention ?? RetentionDays.ONE_MONTH,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const statements = props.grants.map((grant) => statementOf(grant, props.variables));
  statements.push(
    new PolicyStatement({
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: [logGroup.logGroupArn],
    }),
    ...(props.extraStatements ?? []),
    neverDecryptSecrets(),
  );
  const role = new Role(scope, `${id}Role`, {
    assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
    description: `session-lab ${props.bundle}: only what this function calls`,
    inlinePolicies: { [props.bundle]: new PolicyDocument({ statements }) },
  });
  for (const [finding, reason] of wildcardReasons(props.grants)) {
    Validations.of(role).acknowledge({ id: finding, reason });
  }
  const fn = new LambdaFunction(scope, id, {
    description: `session-lab: ${props.description}`,
    runtime: Runtime.NODEJS_24_X,
    architecture: Architecture.ARM_64,
    handler: 'index.handler',
    code: Code.fromAsset(join(props.bundleDir, props.bundle)),
    memorySize: 256,
    timeout: Duration.seconds(props.timeoutSeconds),
    role,
    logGroup,
    environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
  });
  return { fn, role, logGroup };
}
