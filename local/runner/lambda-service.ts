import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
// The invocation's timeout is a deadline over the whole invocation, not something the function
// waits on: `node:timers`' setTimeout, which the benchmark's virtual clock treats as such
// (virtual-time.ts), as it treats middy's own early timeout.
import { clearTimeout as clearDeadline, setTimeout as setDeadline } from 'node:timers';
import type { Context } from 'aws-lambda';
import { BUNDLE_DIR, ensureTemplate, type Template } from '../deployment/artifacts.js';
import { IAMClient, SimulatePrincipalPolicyCommand } from '@aws-sdk/client-iam';
import { OPERATOR_CREDENTIALS, deployLocalStack } from '../deployment/deploy.js';
import { localStack, type LocalFunction, type LocalStack } from '../deployment/local-stack.js';
import { ExecutionEnvironment, LambdaInvocationError, type Environment } from './execution-environment.js';
import { InProcessEnvironment } from './in-process-environment.js';
import type { HandlerResolver, TaskHandler } from './task-handler.js';

/**
 * The local Lambda service: runs each function's deployed bundle in an execution environment of its
 * own (a worker thread: its own module instances, its own process.env; or, for the benchmark's
 * virtual clock, a module instance of its own in this process), with the environment, timeout and
 * memory its resource in the synthesized template declares and the credentials of its own role,
 * obtained from the emulator as Lambda obtains them from STS.
 */

const bundleFile = (fn: LocalFunction) => join(BUNDLE_DIR, fn.bundle, 'index.mjs');

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

/** An execution environment of a function, and the invocations that claimed it. */
interface Container {
  environment: Promise<Environment>;
  claims: number;
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
  /**
   * Starts every environment a function may have (`containersPerFunction`) and asks every state
   * machine's role about invoking every function, so that a measurement that follows sees neither
   * cold starts nor Step Functions' own authorization calls (the benchmark).
   */
  warm(): Promise<void>;
  stop(): Promise<void>;
}

export interface LambdaServiceOptions {
  /** The emulator (AWS_ENDPOINT_URL) the functions call. */
  endpoint: string;
  region: string;
  /** The template to deploy: the synthesized one by default (tests pass a changed copy). */
  template?: Template;
  /**
   * Where bundles run: worker threads (default), or module instances in this process, which the
   * benchmark's virtual clock can see (in-process-environment.ts).
   */
  execution?: 'worker' | 'in-process';
  /**
   * Execution environments a function may have at once (default 1). An invocation takes an idle
   * one, else a new one up to this number, else shares the least busy: Lambda starts one per
   * concurrent invocation, but here each holds a whole bundle's SDK in memory and costs a cold
   * start of CPU, which a class of labs on a laptop cannot pay per lab (bench/README.md).
   */
  containersPerFunction?: number;
}

/** Deploys the template's roles into the emulator and serves its functions from their bundles. */
export async function startLambdaService(options: LambdaServiceOptions): Promise<LambdaService> {
  const template = options.template ?? (await ensureTemplate());
  const stack = localStack(template, options.region);
  await deployLocalStack(stack, options.endpoint);
  const containers = new Map<string, Container[]>();
  const credentials = new Map<string, RoleCredentials>();
  const perFunction = options.containersPerFunction ?? 1;

  const startEnvironment = async (fn: LocalFunction): Promise<Environment> => {
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
    const environment =
      options.execution === 'in-process'
        ? new InProcessEnvironment(bundleFile(fn), env)
        : new ExecutionEnvironment(bundleFile(fn), env, fn.memoryMb);
    await environment.ready;
    return environment;
  };

  /**
   * An environment for one invocation of `fn`, started on first use: an idle one, else a new one
   * while the function has fewer than `containersPerFunction`, else the least busy. With the
   * default of one, one environment serves the function's concurrent invocations, unlike Lambda: a
   * class of labs would otherwise start one per lab per function. Each function still runs alone in
   * its own environments, with its own role, as deployed.
   */
  const environmentFor = (fn: LocalFunction): Promise<Environment> => {
    const pool = containers.get(fn.bundle) ?? [];
    containers.set(fn.bundle, pool);
    const idle = pool.find((c) => c.claims === 0);
    const chosen =
      idle ??
      (pool.length < perFunction
        ? undefined
        : pool.reduce((least, c) => (c.claims < least.claims ? c : least)));
    if (chosen) {
      chosen.claims += 1;
      return chosen.environment;
    }
    const container: Container = { environment: startEnvironment(fn), claims: 1 };
    pool.push(container);
    const forget = () => {
      const at = pool.indexOf(container);
      if (at >= 0) pool.splice(at, 1);
    };
    container.environment.then((e) => e.onEnd(forget), forget);
    return container.environment;
  };
  const release = (fn: LocalFunction, environment: Promise<Environment>) => {
    const container = containers.get(fn.bundle)?.find((c) => c.environment === environment);
    if (container) container.claims -= 1;
  };

  const invoke = async (fn: LocalFunction, event: unknown, context: Context): Promise<unknown> => {
    const input = JSON.stringify(event ?? {});
    if (Buffer.byteLength(input) > PAYLOAD_LIMIT_BYTES)
      throw new LambdaInvocationError(
        'States.DataLimitExceeded',
        `the payload to ${fn.functionName} is ${Buffer.byteLength(input)} bytes, over the ${PAYLOAD_LIMIT_BYTES}-byte limit`,
      );
    const claimed = environmentFor(fn);
    try {
      return await invokeIn(await claimed, fn, JSON.parse(input), context);
    } finally {
      release(fn, claimed);
    }
  };

  const invokeIn = async (
    environment: Environment,
    fn: LocalFunction,
    event: unknown,
    context: Context,
  ): Promise<unknown> => {
    const requestId = context.awsRequestId || randomUUID();
    const { id, result } = environment.invoke(event, {
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
      timer = setDeadline(() => {
        // Lambda ends the environment at the timeout. Here it is ended only when no other
        // invocation runs in it; otherwise the late one is abandoned and runs on unobserved.
        environment.abandon(id);
        if (environment.inFlight === 0) void environment.stop();
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
      clearDeadline(timer);
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
    async warm() {
      for (const fn of stack.functions.values()) {
        // Claimed all at once, so each claim starts an environment of its own.
        const claims = Array.from({ length: perFunction }, () => environmentFor(fn));
        for (const claimed of claims) await claimed.finally(() => release(fn, claimed));
        for (const machine of stack.stateMachines.keys())
          await authorize(machine, 'lambda:InvokeFunction', fn.arn);
      }
    },
    async stop() {
      iam.destroy();
      const started = [...containers.values()].flat();
      containers.clear();
      await Promise.all(
        started.map(async ({ environment }) => (await environment.catch(() => undefined))?.stop()),
      );
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
