import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { ensureTemplate, type Template } from '../deployment/artifacts.js';
import { IAMClient, SimulatePrincipalPolicyCommand } from '@aws-sdk/client-iam';
import { OPERATOR_CREDENTIALS, deployLocalStack } from '../deployment/deploy.js';
import { localStack, type LocalFunction, type LocalStack } from '../deployment/local-stack.js';
import { ExecutionEnvironment, LambdaInvocationError } from './execution-environment.js';
import type { HandlerResolver, TaskHandler } from './runner.js';

/**
 * The local Lambda service: runs each function's deployed bundle in an execution environment of its
 * own (a worker thread: its own module instances, its own process.env), with the environment,
 * timeout and memory its resource in the synthesized template declares and the credentials of its
 * own role, obtained from the emulator as Lambda obtains them from STS.
 */

/** Step Functions refuses a state's input or output larger than this (256 KiB). */
export const PAYLOAD_LIMIT_BYTES = 256 * 1024;
/** Operator settings that reach the functions' logs only (verbosity), passed through when set. */
const PASSED_THROUGH = ['POWERTOOLS_LOG_LEVEL', 'POWERTOOLS_LOGGER_LOG_EVENT', 'POWERTOOLS_DEV'] as const;

interface RoleCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: string;
}

/** Asks the emulator for the role's credentials as the Lambda service (trust policy checked). */
async function assumeForLambda(
  endpoint: string,
  roleArn: string,
  sessionName: string,
): Promise<RoleCredentials> {
  const response = await fetch(`${endpoint}/__emulator/assume-role-for-service`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ roleArn, service: 'lambda.amazonaws.com', sessionName }),
  });
  const body = (await response.json()) as RoleCredentials & { code?: string; error?: string };
  if (!response.ok)
    throw new LambdaInvocationError(
      body.code ?? 'AccessDenied',
      `Lambda could not assume ${roleArn}: ${body.error ?? response.status}`,
    );
  return body;
}

export interface LambdaService {
  stack: LocalStack;
  resolveHandler: HandlerResolver;
  /**
   * Whether the role of the state machine `machineName` (`SessionLab-provision-lab`) may perform
   * `action` on `resourceArn`, as Step Functions asks before a Task's service integration; the
   * denial's text names the role, the action and the resource.
   */
  authorize(
    machineName: string,
    action: string,
    resourceArn: string,
  ): Promise<{ allowed: boolean; message: string }>;
  stop(): Promise<void>;
}

export interface LambdaServiceOptions {
  /** The emulator (AWS_ENDPOINT_URL) the functions call. */
  endpoint: string;
  region: string;
  /** The template to deploy: the synthesized one by default (tests pass a changed copy). */
  template?: Template;
}

/** Deploys the template's roles into the emulator and serves its functions from their bundles. */
export async function startLambdaService(options: LambdaServiceOptions): Promise<LambdaService> {
  const template = options.template ?? (await ensureTemplate());
  const stack = localStack(template, options.region);
  await deployLocalStack(stack, options.endpoint);
  const environments = new Map<string, Promise<ExecutionEnvironment>>();
  const credentials = new Map<string, RoleCredentials>();

  const startEnvironment = async (fn: LocalFunction): Promise<ExecutionEnvironment> => {
    let creds = credentials.get(fn.bundle);
    if (!creds || Date.parse(creds.expiration) - Date.now() < 5 * 60_000) {
      creds = await assumeForLambda(options.endpoint, fn.role.arn, fn.functionName);
      credentials.set(fn.bundle, creds);
    }
    const { NODE_OPTIONS: _ignored, ...declared } = fn.environment;
    const env: Record<string, string> = {
      ...declared,
      AWS_REGION: options.region,
      AWS_DEFAULT_REGION: options.region,
      AWS_ENDPOINT_URL: options.endpoint,
      AWS_ACCESS_KEY_ID: creds.accessKeyId,
      AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
      AWS_SESSION_TOKEN: creds.sessionToken,
      AWS_LAMBDA_FUNCTION_NAME: fn.functionName,
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.functionName}`,
      TZ: 'UTC',
      // The deployed runtime is nodejs24.x, where the SDK has nothing to warn about; this machine's
      // Node 20 would have every environment print its notice that 2027 releases need Node 22.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    for (const name of PASSED_THROUGH) if (process.env[name]) env[name] = process.env[name]!;
    const environment = new ExecutionEnvironment(fn, env);
    await environment.ready;
    return environment;
  };

  /**
   * The function's environment, started on first use. Unlike Lambda, one environment serves the
   * function's concurrent invocations: a cold start costs about half a second of CPU here (the
   * bundle's SDK clients), and a class of labs would otherwise start one per lab per function.
   * Each function still runs alone in its own environment, with its own role, as deployed.
   */
  const environmentFor = (fn: LocalFunction): Promise<ExecutionEnvironment> => {
    let environment = environments.get(fn.bundle);
    if (!environment) {
      environment = startEnvironment(fn);
      environments.set(fn.bundle, environment);
      const forget = () => {
        if (environments.get(fn.bundle) === environment) environments.delete(fn.bundle);
      };
      environment.then((e) => e.worker.once('exit', forget), forget);
    }
    return environment;
  };

  const invoke = async (fn: LocalFunction, event: unknown, context: Context): Promise<unknown> => {
    const input = JSON.stringify(event ?? {});
    if (Buffer.byteLength(input) > PAYLOAD_LIMIT_BYTES)
      throw new LambdaInvocationError(
        'States.DataLimitExceeded',
        `the payload to ${fn.functionName} is ${Buffer.byteLength(input)} bytes, over the ${PAYLOAD_LIMIT_BYTES}-byte limit`,
      );
    const environment = await environmentFor(fn);
    const requestId = context.awsRequestId || randomUUID();
    const { id, result } = environment.invoke(JSON.parse(input), {
      functionName: fn.functionName,
      functionVersion: '$LATEST',
      invokedFunctionArn: fn.arn,
      memoryLimitInMB: String(fn.memoryMb),
      awsRequestId: requestId,
      logGroupName: `/aws/lambda/${fn.functionName}`,
      logStreamName: 'local',
      remainingMs: fn.timeoutSeconds * 1000,
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // Lambda ends the environment at the timeout. Here it is ended only when no other
        // invocation runs in it; otherwise the late one is abandoned and runs on unobserved.
        environment.abandon(id);
        if (environment.inFlight === 0) void environment.worker.terminate();
        reject(
          new LambdaInvocationError(
            'Sandbox.Timedout',
            `RequestId: ${requestId} Error: Task timed out after ${fn.timeoutSeconds.toFixed(2)} seconds`,
          ),
        );
      }, fn.timeoutSeconds * 1000);
    });
    try {
      const output = await Promise.race([result, timedOut]);
      const size = Buffer.byteLength(JSON.stringify(output));
      if (size > PAYLOAD_LIMIT_BYTES)
        throw new LambdaInvocationError(
          'States.DataLimitExceeded',
          `the result of ${fn.functionName} is ${size} bytes, over the ${PAYLOAD_LIMIT_BYTES}-byte limit`,
        );
      return output;
    } finally {
      clearTimeout(timer);
    }
  };

  const resolveHandler: HandlerResolver = async (folder) => {
    const fn = stack.functions.get(folder);
    if (!fn) throw new Error(`the template deploys no function for functions/${folder}`);
    const handler: TaskHandler = (event, context) => invoke(fn, event, context);
    return handler;
  };

  const iam = new IAMClient({
    region: options.region,
    endpoint: options.endpoint,
    credentials: OPERATOR_CREDENTIALS,
  });
  const decisions = new Map<string, Promise<{ allowed: boolean; message: string }>>();
  const authorize = (machineName: string, action: string, resourceArn: string) => {
    const machine = stack.stateMachines.get(machineName);
    if (!machine) throw new Error(`the template deploys no state machine ${machineName}`);
    const key = `${machineName} ${action} ${resourceArn}`;
    let decision = decisions.get(key);
    if (!decision) {
      // The template's role, as deployed into the emulator, evaluated by its IAM policy simulator.
      decision = iam
        .send(
          new SimulatePrincipalPolicyCommand({
            PolicySourceArn: machine.role.arn,
            ActionNames: [action],
            ResourceArns: [resourceArn],
          }),
        )
        .then(({ EvaluationResults }) => {
          const result = EvaluationResults?.[0]?.EvalDecision;
          const principal = `arn:aws:sts::${stack.accountId}:assumed-role/${machine.role.name}/${machine.name}`;
          const why =
            result === 'explicitDeny'
              ? 'with an explicit deny in an identity-based policy'
              : `because no identity-based policy allows the ${action} action`;
          return {
            allowed: result === 'allowed',
            message: `User: ${principal} is not authorized to perform: ${action} on resource: ${resourceArn} ${why}`,
          };
        });
      decisions.set(key, decision);
      decision.catch(() => decisions.delete(key));
    }
    return decision;
  };

  return {
    stack,
    resolveHandler,
    authorize,
    async stop() {
      iam.destroy();
      const started = [...environments.values()];
      environments.clear();
      await Promise.all(started.map(async (e) => (await e.catch(() => undefined))?.worker.terminate()));
    },
  };
}

const services = new Map<string, Promise<LambdaService>>();

/**
 * The Lambda service for the emulator at `endpoint`, started on first use and kept for the process
 * (the CLI, `serve` and the tests run every workflow of an emulator against one deployment).
 */
export function lambdaServiceFor(endpoint: string, region: string): Promise<LambdaService> {
  const key = `${endpoint} ${region}`;
  let service = services.get(key);
  if (!service) {
    service = startLambdaService({ endpoint, region });
    services.set(key, service);
    service.catch(() => services.delete(key));
  }
  return service;
}

/** Ends every execution environment of the emulator at `endpoint` (all of them when omitted). */
export async function stopLambdaServices(endpoint?: string): Promise<void> {
  for (const [key, service] of [...services]) {
    if (endpoint && !key.startsWith(`${endpoint} `)) continue;
    services.delete(key);
    await (await service.catch(() => undefined))?.stop();
  }
}
