import { readFileSync } from 'node:fs';
import { Fn, RemovalPolicy, Stack, Validations, type CfnElement } from 'aws-cdk-lib';
import {
  AccessLogFormat,
  ApiDefinition,
  CfnAccount,
  EndpointType,
  LogGroupLogDestination,
  MethodLoggingLevel,
  SpecRestApi,
} from 'aws-cdk-lib/aws-apigateway';
import { ManagedPolicy, PolicyDocument, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { parse } from 'yaml';
import { API_FUNCTIONS, apiBundleName, pascalCase, type ApiRouteName } from '../functions.js';
import { API_PERMISSIONS } from '../permissions.js';
import { registryVariables, type RegistryRefs } from './lab-functions.js';
import { createTaskFunction } from './task-function.js';

/** The portal API's description, deployed as it is (functions/api/openapi.yaml). */
export const OPENAPI_PATH = new URL('../../functions/api/openapi.yaml', import.meta.url);

/** The API's limits (functions/shared/api.ts reads them from the environment). */
export interface ApiLimitsProps {
  /** The most labs (not deleted) the account may hold: the API refuses more with 429 LabLimitExceeded. */
  maxLabs: number;
  maxClassSize: number;
  maxClassConcurrency: number;
  defaultLabHours: number;
  maxLabHours: number;
}

export const DEFAULT_API_LIMITS: ApiLimitsProps = {
  maxLabs: 100,
  maxClassSize: 30,
  maxClassConcurrency: 10,
  defaultLabHours: 72,
  maxLabHours: 720,
};

export interface PortalApiProps {
  bundleDir: string;
  registry: RegistryRefs;
  /** The ARN of each workflow a route starts, by the environment variable that names it. */
  stateMachineArns: Record<'provision-lab' | 'teardown-lab' | 'reset-lab' | 'provision-class', string>;
  limits?: ApiLimitsProps;
  /** Whether lab input may select `policyMode: "seed"` (default true): ALLOW_SEED_POLICY_MODE of the routes that take lab input. */
  allowSeedPolicyMode?: boolean;
  logRetention?: RetentionDays;
  stageName?: string;
}

interface Operation {
  'x-amazon-apigateway-integration': { uri: string };
}
interface OpenApi {
  paths: Record<string, Record<string, Operation | unknown>>;
}

const METHODS = ['get', 'post', 'put', 'delete', 'patch'];

/** Every operation of the spec: method, path and the route folder its integration names. */
export function operationsOf(spec: OpenApi): { method: string; path: string; route: string }[] {
  return Object.entries(spec.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, operation]) => {
        const uri = (operation as Operation)['x-amazon-apigateway-integration'].uri;
        const stem = /\$\{Api([A-Za-z0-9]+)FunctionArn\}/.exec(uri)?.[1];
        if (!stem)
          throw new Error(`openapi.yaml: ${method.toUpperCase()} ${path} names no \${Api<Route>FunctionArn}`);
        const route = stem.replace(/(?<!^)([A-Z])/g, '-$1').toLowerCase();
        return { method: method.toUpperCase(), path, route };
      }),
  );
}

/** What each route's function starts: its state machine ARN variable. */
/** The routes whose body is lab input (checked against the deployment's `allowSeedPolicyMode`). */
const TAKES_LAB_INPUT: ReadonlySet<ApiRouteName> = new Set<ApiRouteName>(['create-lab', 'create-class']);

const STARTS: Record<ApiRouteName, [string, keyof PortalApiProps['stateMachineArns']] | undefined> = {
  'create-lab': ['PROVISION_LAB_STATE_MACHINE_ARN', 'provision-lab'],
  'list-labs': undefined,
  'get-lab': undefined,
  'delete-lab': ['TEARDOWN_LAB_STATE_MACHINE_ARN', 'teardown-lab'],
  'reset-lab': ['RESET_LAB_STATE_MACHINE_ARN', 'reset-lab'],
  'create-class': ['PROVISION_CLASS_STATE_MACHINE_ARN', 'provision-class'],
};

/**
 * The training-portal REST API from functions/api/openapi.yaml, deployed as written: each
 * `${Api<Route>FunctionArn}` placeholder filled with the route's function ARN (Fn::Sub), IAM
 * (SigV4) authorization on every method (the spec's `sigv4` security scheme), each function with
 * its own least-privilege role and a permission for this API's route only, a stage with access
 * logs, execution logs (errors) and X-Ray tracing, and a managed policy a portal's role attaches to
 * call it (execute-api:Invoke on its routes and nothing else).
 */
export class PortalApi extends Construct {
  readonly api: SpecRestApi;
  readonly functions = new Map<ApiRouteName, LambdaFunction>();
  readonly roles = new Map<ApiRouteName, Role>();
  readonly invokePolicy: ManagedPolicy;
  readonly operations: { method: string; path: string; route: string }[];

  constructor(scope: Construct, id: string, props: PortalApiProps) {
    super(scope, id);
    const limits = props.limits ?? DEFAULT_API_LIMITS;
    const spec = parse(readFileSync(OPENAPI_PATH, 'utf8')) as OpenApi;
    this.operations = operationsOf(spec);

    for (const { route, description } of API_FUNCTIONS) {
      const starts = STARTS[route];
      const { fn, role } = createTaskFunction(this, `Api${pascalCase(route)}`, {
        bundle: apiBundleName(route),
        bundleDir: props.bundleDir,
        description,
        timeoutSeconds: 29, // API Gateway's integration timeout
        grants: API_PERMISSIONS[route],
        variables: registryVariables(props.registry),
        environment: {
          REGISTRY_TABLE: props.registry.tableName,
          MAX_LABS: String(limits.maxLabs),
          MAX_CLASS_SIZE: String(limits.maxClassSize),
          MAX_CLASS_CONCURRENCY: String(limits.maxClassConcurrency),
          DEFAULT_LAB_HOURS: String(limits.defaultLabHours),
          MAX_LAB_HOURS: String(limits.maxLabHours),
          ...(starts ? { [starts[0]]: props.stateMachineArns[starts[1]] } : {}),
          ...(TAKES_LAB_INPUT.has(route)
            ? { ALLOW_SEED_POLICY_MODE: String(props.allowSeedPolicyMode ?? true) }
            : {}),
        },
        logRetention: props.logRetention,
      });
      this.functions.set(route, fn);
      this.roles.set(route, role);
    }

    // Each integration's placeholder becomes the function's ARN; the pseudo parameters stay.
    for (const operation of this.operations) {
      const fn = this.functions.get(operation.route as ApiRouteName);
      if (!fn)
        throw new Error(
          `openapi.yaml: ${operation.method} ${operation.path}: no function ${operation.route}`,
        );
      const item = spec.paths[operation.path]![operation.method.toLowerCase()] as Operation;
      const integration = item['x-amazon-apigateway-integration'];
      integration.uri = Fn.sub(integration.uri, {
        [`Api${pascalCase(operation.route)}FunctionArn`]: fn.functionArn,
      });
    }

    const stageName = props.stageName ?? 'v1';
    const accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const account = this.executionLoggingAccount();
    this.api = new SpecRestApi(this, 'Api', {
      restApiName: `${Stack.of(this).stackName}-portal`,
      description: 'session-lab training-portal API (IAM authorization)',
      apiDefinition: ApiDefinition.fromInline(spec),
      endpointTypes: [EndpointType.REGIONAL],
      cloudWatchRole: false,
      deployOptions: {
        stageName,
        accessLogDestination: new LogGroupLogDestination(accessLogs),
        accessLogFormat: AccessLogFormat.jsonWithStandardFields(),
        tracingEnabled: true,
        loggingLevel: MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        metricsEnabled: true,
        throttlingRateLimit: 50,
        throttlingBurstLimit: 100,
      },
    });
    this.api.deploymentStage.node.addDependency(account);
    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-APIG2',
      reason:
        'Requests are validated by each route function (strict schemas: a bad body, path or query is a ' +
        '400 naming the field, before anything is created), which API Gateway request validation ' +
        'cannot express: its 400 names no field.',
    });
    Validations.of(this.api.deploymentStage).acknowledge({
      id: 'AwsSolutions-APIG3',
      reason:
        'Every method requires IAM (SigV4) authorization, so only principals granted ' +
        'execute-api:Invoke (the portal) reach it; stage throttling bounds the rate. A web ACL can be ' +
        'associated by the operator where the account requires one.',
    });

    for (const operation of this.operations) {
      const path = operation.path.replace(/\{[^}]+\}/g, '*');
      this.functions.get(operation.route as ApiRouteName)!.addPermission(`Invoke${operation.method}`, {
        principal: new ServicePrincipal('apigateway.amazonaws.com'),
        sourceArn: this.api.arnForExecuteApi(operation.method, path, stageName),
      });
    }

    const apiId = Stack.of(this).getLogicalId(this.api.node.defaultChild as CfnElement);
    const paths = this.operations.map((op) => ({ ...op, arnPath: op.path.replace(/\{[^}]+\}/g, '*') }));
    this.invokePolicy = new ManagedPolicy(this, 'PortalInvokePolicy', {
      description: 'session-lab: call the training-portal API (attach to the portal’s role)',
      statements: [
        new PolicyStatement({
          actions: ['execute-api:Invoke'],
          resources: paths.map((op) => this.api.arnForExecuteApi(op.method, op.arnPath, stageName)),
        }),
      ],
    });
    for (const op of paths.filter((p) => p.arnPath.includes('*'))) {
      Validations.of(this.invokePolicy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<${apiId}>/${stageName}/${op.method}${op.arnPath}]`,
        reason: `${op.method} ${op.path}: the * is the {labId} path parameter (any lab), on this API's stage and method only.`,
      });
    }
  }

  /**
   * The Region's API Gateway account setting names the role that writes execution logs: a role
   * that may write only to API Gateway's execution log groups (and list groups, which takes `*`).
   */
  private executionLoggingAccount(): CfnAccount {
    const stack = Stack.of(this);
    const groups = `arn:${stack.partition}:logs:${stack.region}:${stack.account}:log-group:API-Gateway-Execution-Logs_*`;
    const role = new Role(this, 'ExecutionLogsRole', {
      assumedBy: new ServicePrincipal('apigateway.amazonaws.com'),
      description: 'API Gateway (this Region): writes REST API execution logs',
      inlinePolicies: {
        'execution-logs': new PolicyDocument({
          statements: [
            new PolicyStatement({
              actions: [
                'logs:CreateLogGroup',
                'logs:CreateLogStream',
                'logs:DescribeLogStreams',
                'logs:PutLogEvents',
                'logs:GetLogEvents',
                'logs:FilterLogEvents',
              ],
              resources: [groups, `${groups}:log-stream:*`],
            }),
            new PolicyStatement({ actions: ['logs:DescribeLogGroups'], resources: ['*'] }),
          ],
        }),
      },
    });
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'logs:DescribeLogGroups supports no resource narrower than *; it only lists group names.',
    });
    for (const resource of [
      'arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:API-Gateway-Execution-Logs_*',
      'arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:API-Gateway-Execution-Logs_*:log-stream:*',
    ]) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${resource}]`,
        reason:
          'API Gateway names its execution log groups API-Gateway-Execution-Logs_<api id>/<stage> and their ' +
          'streams itself: only those groups.',
      });
    }
    const account = new CfnAccount(this, 'ExecutionLogging', { cloudWatchRoleArn: role.roleArn });
    account.node.addDependency(role);
    return account;
  }
}
