import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Context } from 'aws-lambda';
import { BUNDLE_DIR, ensureTemplate, type Template } from '../deployment/artifacts.js';
import { IAMClient, SimulatePrincipalPolicyCommand } from '@aws-sdk/client-iam';
import { OPERATOR_CREDENTIALS, deployLocalStack } from '../deployment/deploy.js';
import { localStack, type LocalFunction, type LocalStack } from '../deployment/local-stack.js';
import type { HandlerResolver, TaskHandler } from './runner.js';

/**
 * The local Lambda service: runs each function's deployed bundle in an execution environment of its
 * own (a worker thread: its own module instances, its own process.env), with the environment,
 * timeout and memory its resource in the synthesized template declares and the credentials of its
 * own role, obtained from the emulator as Lambda obtains them from STS. One invocation per
 * environment at a time; concurrent invocations get more environments, as Lambda scales out.
 */

/** Step Functions refuses a state's input or output larger than this (256 KiB). */
export const PAYLOAD_LIMIT_BYTES = 256 * 1024;
/** An environment idle this long is ended (Lambda reclaims idle environments too). */
const IDLE_MS = 5 * 60_000;
const WORKER = fileURLToPath(new URL('./lambda-worker.mjs', import.meta.url));
/** Operator settings that reach the functions' logs only (verbosity), passed through when set. */
const PASSED_THROUGH = ['POWERTOOLS_LOG_LEVEL', 'POWERTOOLS_LOGGER_LOG_EVENT', 'POWERTOOLS_DEV'] as const;

/** An error as Lambda reports it: `name` is the error type Step Functions matches. */
export class LambdaInvocationError extends Error {
  constructor(errorType: string, message: string) {
    super(message);
    this.name = errorType;
  }
}

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

class ExecutionEnvironment {
  readonly worker: Worker;
  readonly ready: Promise<void>;
  idleTimer?: NodeJS.Timeout;
  private pending?: { resolve: (value: unknown) => void; reject: (err: Error) => void };

  constructor(fn: LocalFunction, env: Record<string, string>) {
    this.worker = new Worker(WORKER, {
      workerData: { bundle: join(BUNDLE_DIR, fn.bundle, 'index.mjs') },
      env,
      resourceLimits: { maxOldGenerationSizeMb: fn.memoryMb },
      stdout: false,
      stderr: false,
    });
    this.worker.unref();
    this.ready = new Promise((resolve, reject) => {
      this.worker.once('message', () => resolve());
      this.worker.once('error', (err) =>
        // An error at cold start (a missing variable, a bad import) is the function's init error.
        reject(
          new LambdaInvocationError(
            err.name === 'Error' ? 'Runtime.ImportModuleError' : err.name,
            err.message,
          ),
        ),
      );
    });
    this.ready.catch(() => undefined);
    this.worker.on(
      'message',
      (message: {
        ready?: boolean;
        ok?: boolean;
        payload?: string;
        errorType?: string;
        errorMessage?: string;
      }) => {
        if (message.ready) return;
        const pending = this.pending;
        this.pending = undefined;
        if (!pending) return;
        if (message.ok) pending.resolve(JSON.parse(message.payload ?? 'null'));
        else
          pending.reject(new LambdaInvocationError(message.errorType ?? 'Error', message.errorMessage ?? ''));
      },
    );
    this.worker.on('error', (err) => {
      this.pending?.reject(new LambdaInvocationError('Runtime.ExitError', err.message));
      this.pending = undefined;
    });
    this.worker.on('exit', (code) => {
      this.pending?.reject(
        new LambdaInvocationError('Runtime.ExitError', `the runtime exited with code ${code}`),
      );
      this.pending = undefined;
    });
  }

  invoke(event: unknown, context: Record<string, unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.postMessage({ event, context });
    });
  }
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
  const idle = new Map<string, ExecutionEnvironment[]>();
  const all = new Set<ExecutionEnvironment>();
  const credentials = new Map<string, RoleCredentials>();

  const environmentFor = async (fn: LocalFunction): Promise<ExecutionEnvironment> => {
    const reusable = idle.get(fn.bundle)?.pop();
    if (reusable) {
      clearTimeout(reusable.idleTimer);
      return reusable;
    }
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
    all.add(environment);
    environment.worker.once('exit', () => all.delete(environment));
    await environment.ready;
    return environment;
  };

  const release = (fn: LocalFunction, environment: ExecutionEnvironment) => {
    const list = idle.get(fn.bundle) ?? [];
    list.push(environment);
    idle.set(fn.bundle, list);
    environment.idleTimer = setTimeout(() => {
      idle.set(
        fn.bundle,
        (idle.get(fn.bundle) ?? []).filter((e) => e !== environment),
      );
      void environment.worker.terminate();
    }, IDLE_MS);
    environment.idleTimer.unref();
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
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // Lambda ends the environment at the timeout; the invocation fails as Sandbox.Timedout.
        void environment.worker.terminate();
        reject(
          new LambdaInvocationError(
            'Sandbox.Timedout',
            `RequestId: ${requestId} Error: Task timed out after ${fn.timeoutSeconds.toFixed(2)} seconds`,
          ),
        );
      }, fn.timeoutSeconds * 1000);
    });
    try {
      const result = await Promise.race([
        environment.invoke(JSON.parse(input), {
          functionName: fn.functionName,
          functionVersion: '$LATEST',
          invokedFunctionArn: fn.arn,
          memoryLimitInMB: String(fn.memoryMb),
          awsRequestId: requestId,
          logGroupName: `/aws/lambda/${fn.functionName}`,
          logStreamName: 'local',
          remainingMs: fn.timeoutSeconds * 1000,
        }),
        timedOut,
      ]);
      clearTimeout(timer);
      release(fn, environment);
      const size = Buffer.byteLength(JSON.stringify(result));
      if (size > PAYLOAD_LIMIT_BYTES)
        throw new LambdaInvocationError(
          'States.DataLimitExceeded',
          `the result of ${fn.functionName} is ${size} bytes, over the ${PAYLOAD_LIMIT_BYTES}-byte limit`,
        );
      return result;
    } catch (err) {
      clearTimeout(timer);
      if (!(err instanceof LambdaInvocationError && err.name === 'Sandbox.Timedout')) {
        // A function error leaves the environment usable; a crashed one has exited already.
        if (all.has(environment)) release(fn, environment);
      }
      throw err;
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
      for (const list of idle.values()) for (const environment of list) clearTimeout(environment.idleTimer);
      idle.clear();
      await Promise.all([...all].map((environment) => environment.worker.terminate()));
      all.clear();
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
