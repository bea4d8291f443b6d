import { z } from 'zod';
import type { ControlHandler, EmulatorContext } from './context.js';
import { findHost } from './services/managed-nodes.js';
import { AwsError, RawReply, errorReply, type AwsCall } from './protocol.js';

/**
 * Fault injection: what a bad night on AWS looks like, configurable per emulator run and
 * deterministic for a seed. Transient faults (throttling, 5xx) answer a share of every operation's
 * requests before they take effect, with the code and HTTP status AWS uses, so the SDK's retry
 * classifies them as it would on AWS. The other faults model AWS behaviour that retries cannot fix,
 * or only a workflow's own retries can: IAM propagation, an agent that never registers, a command
 * that hangs until it times out, an activation that expires before it is used.
 *
 * Each decision is a hash of (seed, fault, operation, n) where n counts that operation's requests,
 * so a run sees the same sequence of faults per operation for a seed (concurrent callers may still
 * interleave differently).
 */

/** A share from 0 to 1: one for every operation, or per `service`, `service:Operation` or `*`. */
const shareSchema = z.number().min(0).max(1);
const rateSchema = z.union([
  shareSchema,
  z.record(z.string().regex(/^(\*|[a-z0-9-]+(:\w+)?)$/), shareSchema),
]);
export type FaultRate = z.infer<typeof rateSchema>;

/** Which labs a lab-scoped fault hits: the listed lab ids (the resources' lab tag), or every lab. */
const labScope = { labIds: z.array(z.string().min(1)).optional() };

export const faultOptionsSchema = z
  .object({
    /** Seeds every decision; the same seed gives the same faults per operation. */
    seed: z.number().int().default(1),
    /** Requests answered with the service's throttling error (SSM/Logs `ThrottlingException`, IAM `Throttling`, EC2 `RequestLimitExceeded`). */
    throttle: rateSchema.optional(),
    /** Requests answered 500 / 503 (InternalServerError, ServiceUnavailable, ...) before they take effect. */
    serverError: rateSchema.optional(),
    /**
     * Requests that take effect but whose answer is lost to a 500: the SDK retries a request that
     * already happened (AWS does this too), so a create must cope with finding its own result.
     */
    serverErrorAfterEffect: rateSchema.optional(),
    /**
     * Model seconds IAM takes to propagate: RunInstances with an instance profile created (or given
     * its role) less than this ago fails with `InvalidParameterValue` "Invalid IAM Instance Profile
     * name"; CreateActivation with a role created less than this ago fails with `ValidationException`
     * "Not existing role"; CreateLoginProfile / AttachUserPolicy for a user created less than this
     * ago fails with `NoSuchEntity`.
     */
    iamPropagationSeconds: z.number().min(0).optional(),
    /** `amazon-ssm-agent -register` is refused, or succeeds but the node never comes Online. */
    agentRegistration: z
      .object({ fail: z.enum(['refused', 'offline']).default('refused'), ...labScope })
      .strict()
      .optional(),
    /**
     * Run Command invocations on the lab's hosts hang and end `TimedOut` (ExecutionTimedOut) after
     * `afterSeconds` model seconds, by default the command's own execution timeout.
     */
    commandTimeout: z
      .object({ afterSeconds: z.number().positive().optional(), ...labScope })
      .strict()
      .optional(),
    /** The lab's activations expire `afterSeconds` model seconds after CreateActivation, whatever was asked. */
    activationExpiry: z
      .object({ afterSeconds: z.number().positive().default(1), ...labScope })
      .strict()
      .optional(),
  })
  .strict();

export type FaultOptions = z.input<typeof faultOptionsSchema>;
type FaultConfig = z.output<typeof faultOptionsSchema>;

/** The tag every session-lab resource carries with its lab id (functions/shared/tags.ts). */
const LAB_TAG = 'session-lab:lab-id';

export type TransientFault = 'throttle' | 'serverError' | 'serverErrorAfterEffect';
export type PermanentFault = 'iamPropagation' | 'agentRegistration' | 'commandTimeout' | 'activationExpiry';

export interface FaultStats {
  /** AWS requests the emulator received (every SDK attempt counts). */
  requests: number;
  injected: Record<TransientFault | PermanentFault, number>;
  /** Transient faults whose SDK call was retried and then answered without an injected fault. */
  absorbed: Record<TransientFault, number>;
  /** Transient faults whose SDK call got no later answer: the caller saw the error. */
  surfaced: Record<TransientFault, number>;
  /** The operations of the surfaced faults (`service:Operation` -> count). */
  surfacedByOperation: Record<string, number>;
  /** Per `service:Operation`: requests and transient faults injected. */
  byOperation: Record<string, { requests: number } & Partial<Record<TransientFault, number>>>;
}

/** The hooks the services consult (run-command asks whether an invocation hangs). */
export interface FaultHooks {
  /** Real ms after which the invocations of this SendCommand call end TimedOut instead of running. */
  commandHangMs(call: AwsCall, executionTimeoutSeconds: number): number | undefined;
}

const TRANSIENT: TransientFault[] = ['throttle', 'serverError', 'serverErrorAfterEffect'];

/** 32-bit FNV-1a then a murmur finalizer: a uniform number in [0, 1) for a key. */
function uniform(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 0x1_0000_0000;
}

function shareFor(rate: FaultRate | undefined, service: string, operation: string): number {
  if (rate === undefined) return 0;
  if (typeof rate === 'number') return rate;
  return rate[`${service}:${operation}`] ?? rate[service] ?? rate['*'] ?? 0;
}

/** The throttling error each service answers with, and its HTTP status. */
function throttlingError(service: string): AwsError {
  if (service === 'ec2') return new AwsError('RequestLimitExceeded', 'Request limit exceeded.', 503);
  if (service === 'iam' || service === 'sts') return new AwsError('Throttling', 'Rate exceeded', 400);
  return new AwsError('ThrottlingException', 'Rate exceeded', 400);
}

/** A 5xx as each service spells it; `unavailable` picks 503 over 500. */
function serverError(service: string, unavailable: boolean): AwsError {
  const message = 'We encountered an internal error. Please try again.';
  if (unavailable) {
    if (service === 'ec2') return new AwsError('Unavailable', 'The server is overloaded.', 503);
    return new AwsError('ServiceUnavailable', 'Service is unavailable. Please try again.', 503);
  }
  if (service === 'ec2') return new AwsError('InternalError', message, 500);
  if (service === 'iam' || service === 'sts') return new AwsError('ServiceFailure', message, 500);
  if (service === 'secretsmanager') return new AwsError('InternalServiceError', message, 500);
  if (service === 'logs') return new AwsError('ServiceUnavailableException', message, 500);
  return new AwsError('InternalServerError', message, 500);
}

const header = (call: AwsCall, name: string) => {
  const value = call.raw.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/** The value of the lab tag in an AWS tag list (`[{Key, Value}]`). */
function labOfTags(tags: unknown): string | undefined {
  if (!Array.isArray(tags)) return undefined;
  const tag = (tags as { Key?: unknown; Value?: unknown }[]).find((t) => t?.Key === LAB_TAG);
  return typeof tag?.Value === 'string' ? tag.Value : undefined;
}

/** IAM names may be given with a path (`service-role/Name`) or as an ARN. */
const bareName = (name: unknown) => String(name ?? '').slice(String(name ?? '').lastIndexOf('/') + 1);

export class FaultInjector implements FaultHooks {
  private config: FaultConfig;
  private readonly counters = new Map<string, number>();
  /** SDK invocation id -> transient faults it has seen since its last real answer. */
  private readonly pending = new Map<
    string,
    { op: string; faults: Partial<Record<TransientFault, number>> }
  >();
  /** IAM entity -> real ms it was (re)created, for the propagation window. */
  private readonly iamCreated = new Map<string, number>();
  /** SendCommand calls whose invocations hang: real ms until TimedOut, from the command's own timeout. */
  private readonly hangs = new WeakMap<AwsCall, (executionTimeoutSeconds: number) => number>();
  /** mi- nodes registered under an 'offline' agent fault: never reported Online. */
  private readonly silentNodes = new Set<string>();
  private stats!: FaultStats;

  constructor(options: FaultOptions = {}) {
    this.config = faultOptionsSchema.parse(options);
    this.resetStats();
  }

  /** Replaces the configuration (a test or the control endpoint turning faults on or off). */
  configure(options: FaultOptions): void {
    this.config = faultOptionsSchema.parse(options);
  }

  /** True when no fault is configured: calls are only counted. */
  private get idle(): boolean {
    return Object.entries(this.config).every(([key, value]) => key === 'seed' || value === undefined);
  }

  get options(): FaultConfig {
    return this.config;
  }

  resetStats(): void {
    this.pending.clear();
    this.stats = {
      requests: 0,
      injected: {
        throttle: 0,
        serverError: 0,
        serverErrorAfterEffect: 0,
        iamPropagation: 0,
        agentRegistration: 0,
        commandTimeout: 0,
        activationExpiry: 0,
      },
      absorbed: { throttle: 0, serverError: 0, serverErrorAfterEffect: 0 },
      surfaced: { throttle: 0, serverError: 0, serverErrorAfterEffect: 0 },
      surfacedByOperation: {},
      byOperation: {},
    };
  }

  /** A snapshot; `surfaced` counts the calls whose last answer so far was an injected fault. */
  snapshot(): FaultStats {
    const stats = structuredClone(this.stats);
    for (const { op, faults } of this.pending.values()) {
      for (const kind of TRANSIENT) {
        stats.surfaced[kind] += faults[kind] ?? 0;
        if (faults[kind]) stats.surfacedByOperation[op] = (stats.surfacedByOperation[op] ?? 0) + faults[kind];
      }
    }
    return stats;
  }

  private roll(kind: string, key: string): number {
    const n = (this.counters.get(`${kind}:${key}`) ?? 0) + 1;
    this.counters.set(`${kind}:${key}`, n);
    return uniform(`${this.config.seed}:${kind}:${key}:${n}`);
  }

  private inScope(scope: { labIds?: string[] } | undefined, labId: string | undefined): boolean {
    if (!scope) return false;
    return scope.labIds === undefined || (labId !== undefined && scope.labIds.includes(labId));
  }

  private async labOfHosts(ctx: EmulatorContext, region: string, ids: unknown): Promise<string | undefined> {
    for (const id of Array.isArray(ids) ? ids : []) {
      const host = await findHost(ctx, region, String(id));
      if (host?.tags[LAB_TAG]) return host.tags[LAB_TAG];
    }
    return undefined;
  }

  /** Counts an injected transient fault against the operation and the SDK call it hit. */
  private inject(call: AwsCall, kind: TransientFault): void {
    const row = this.stats.byOperation[`${call.service}:${call.operation}`]!;
    row[kind] = (row[kind] ?? 0) + 1;
    this.stats.injected[kind] += 1;
    const invocation = header(call, 'amz-sdk-invocation-id');
    const op = `${call.service}:${call.operation}`;
    if (invocation) {
      const entry = this.pending.get(invocation) ?? { op, faults: {} };
      entry.faults[kind] = (entry.faults[kind] ?? 0) + 1;
      this.pending.set(invocation, entry);
    } else {
      this.stats.surfaced[kind] += 1;
      this.stats.surfacedByOperation[op] = (this.stats.surfacedByOperation[op] ?? 0) + 1;
    }
  }

  /** A real answer reached the caller: the faults its earlier attempts saw were absorbed. */
  private answered(call: AwsCall): void {
    const invocation = header(call, 'amz-sdk-invocation-id');
    const faults = invocation ? this.pending.get(invocation)?.faults : undefined;
    if (!faults) return;
    for (const kind of TRANSIENT) this.stats.absorbed[kind] += faults[kind] ?? 0;
    this.pending.delete(invocation!);
  }

  /** The permanent or propagation fault this call meets, if any (before it takes effect). */
  private async permanentFault(call: AwsCall, ctx: EmulatorContext): Promise<AwsError | undefined> {
    const { service, operation, input } = call;
    const window = this.config.iamPropagationSeconds;
    const young = (key: string) => {
      const at = this.iamCreated.get(key);
      return window !== undefined && at !== undefined && !ctx.clock.hasElapsed(at, window);
    };
    if (service === 'ec2' && operation === 'RunInstances') {
      const profile = (input.IamInstanceProfile ?? {}) as { Name?: string; Arn?: string };
      const byArn = profile.Name === undefined && profile.Arn !== undefined;
      const given = byArn ? profile.Arn : profile.Name;
      if (given !== undefined && young(`profile:${bareName(given)}`)) {
        this.stats.injected.iamPropagation += 1;
        return new AwsError(
          'InvalidParameterValue',
          byArn
            ? `Value (${given}) for parameter iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN`
            : `Value (${given}) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name`,
        );
      }
    }
    if (service === 'ssm' && operation === 'CreateActivation' && young(`role:${bareName(input.IamRole)}`)) {
      this.stats.injected.iamPropagation += 1;
      return new AwsError(
        'ValidationException',
        `Not existing role: arn:aws:iam::${ctx.accountId}:role/${String(input.IamRole)}`,
      );
    }
    if (
      service === 'iam' &&
      (operation === 'CreateLoginProfile' || operation === 'AttachUserPolicy') &&
      young(`user:${String(input.UserName)}`)
    ) {
      this.stats.injected.iamPropagation += 1;
      return new AwsError(
        'NoSuchEntity',
        `The user with name ${String(input.UserName)} cannot be found.`,
        404,
      );
    }
    return undefined;
  }

  /** Remembers when IAM entities appear, for the propagation window. */
  private recordIam(call: AwsCall): void {
    if (call.service !== 'iam') return;
    const { operation, input } = call;
    const now = Date.now();
    if (operation === 'CreateRole') this.iamCreated.set(`role:${String(input.RoleName)}`, now);
    if (operation === 'CreateInstanceProfile' || operation === 'AddRoleToInstanceProfile')
      this.iamCreated.set(`profile:${String(input.InstanceProfileName)}`, now);
    if (operation === 'CreateUser') this.iamCreated.set(`user:${String(input.UserName)}`, now);
  }

  /** Rewrites a call before it is served: the activation that expires early, the command that hangs. */
  private async rewrite(call: AwsCall, ctx: EmulatorContext): Promise<AwsCall> {
    const { service, operation, input } = call;
    const expiry = this.config.activationExpiry;
    if (
      service === 'ssm' &&
      operation === 'CreateActivation' &&
      this.inScope(expiry, labOfTags(input.Tags))
    ) {
      this.stats.injected.activationExpiry += 1;
      // At least 250 ms ahead, so CreateActivation's own "must be in the future" check, made a
      // moment later, passes (50 ms was overrun on a machine loaded by a benchmark and the suite).
      const expiresMs = Date.now() + Math.max(ctx.clock.realMs(expiry!.afterSeconds), 250);
      return { ...call, input: { ...input, ExpirationDate: expiresMs / 1000 } };
    }
    const hang = this.config.commandTimeout;
    if (service === 'ssm' && operation === 'SendCommand' && hang) {
      const labId = await this.labOfHosts(ctx, call.region, input.InstanceIds);
      if (this.inScope(hang, labId)) {
        this.hangs.set(call, (timeout) => ctx.clock.realMs(hang.afterSeconds ?? timeout));
      }
    }
    return call;
  }

  commandHangMs(call: AwsCall, executionTimeoutSeconds: number): number | undefined {
    const hangMs = this.hangs.get(call);
    if (!hangMs) return undefined;
    this.stats.injected.commandTimeout += 1;
    return hangMs(executionTimeoutSeconds);
  }

  /** Nodes silenced by the 'offline' agent fault read ConnectionLost wherever nodes are listed. */
  private silence(call: AwsCall, reply: RawReply): RawReply {
    if (!this.silentNodes.size || call.service !== 'ssm' || reply.status !== 200) return reply;
    if (call.operation !== 'DescribeInstanceInformation') return reply;
    const body = JSON.parse(reply.body.toString()) as {
      InstanceInformationList?: { InstanceId?: string; PingStatus?: string }[];
    };
    for (const node of body.InstanceInformationList ?? []) {
      if (node.InstanceId && this.silentNodes.has(node.InstanceId)) node.PingStatus = 'ConnectionLost';
    }
    return new RawReply(reply.status, reply.headers, JSON.stringify(body));
  }

  /**
   * Serves one AWS call through the faults: a transient fault answers it before (or, lost reply,
   * after) it takes effect; a propagation fault refuses it as AWS would; otherwise `dispatch`
   * serves it, possibly rewritten.
   */
  async intercept(
    call: AwsCall,
    ctx: EmulatorContext,
    dispatch: (call: AwsCall) => Promise<RawReply>,
  ): Promise<RawReply> {
    this.stats.requests += 1;
    if (this.idle) {
      const reply = await dispatch(call);
      if (reply.status >= 200 && reply.status < 300) this.recordIam(call);
      this.answered(call);
      return reply;
    }
    const { service, operation } = call;
    const op = `${service}:${operation}`;
    (this.stats.byOperation[op] ??= { requests: 0 }).requests += 1;
    if (this.roll('throttle', op) < shareFor(this.config.throttle, service, operation)) {
      this.inject(call, 'throttle');
      return errorReply(call, throttlingError(service));
    }
    const fiveXx = this.roll('serverError', op);
    const fiveXxShare = shareFor(this.config.serverError, service, operation);
    if (fiveXx < fiveXxShare) {
      this.inject(call, 'serverError');
      // Half of them 503 Service Unavailable, half 500 Internal Server Error.
      return errorReply(call, serverError(service, fiveXx * 2 < fiveXxShare));
    }
    const refused = await this.permanentFault(call, ctx);
    if (refused) {
      this.answered(call);
      return errorReply(call, refused);
    }
    const reply = await dispatch(await this.rewrite(call, ctx));
    if (reply.status >= 200 && reply.status < 300) this.recordIam(call);
    const lost = shareFor(this.config.serverErrorAfterEffect, service, operation);
    if (this.roll('serverErrorAfterEffect', op) < lost) {
      this.inject(call, 'serverErrorAfterEffect');
      return errorReply(call, serverError(service, false));
    }
    this.answered(call);
    return this.silence(call, reply);
  }

  /** The agent's registration control, failing for the lab's hosts as configured. */
  wrapControls(controls: Record<string, ControlHandler>): Record<string, ControlHandler> {
    const register = controls['host-agent-register'];
    if (!register) return controls;
    return {
      ...controls,
      'host-agent-register': async (body, ctx) => {
        const fault = this.config.agentRegistration;
        const { hostInstanceId, region } = (body ?? {}) as { hostInstanceId?: string; region?: string };
        const host =
          fault && hostInstanceId && region ? await findHost(ctx, region, hostInstanceId) : undefined;
        if (!fault || !this.inScope(fault, host?.tags[LAB_TAG])) return register(body, ctx);
        this.stats.injected.agentRegistration += 1;
        if (fault.fail === 'refused') {
          throw new AwsError(
            'RegistrationRefused',
            'RequestError: send request failed caused by: Post "https://ssm.' +
              `${(body as { registerRegion?: string }).registerRegion ?? region}.amazonaws.com/": dial tcp: i/o timeout (emulator fault)`,
          );
        }
        const answer = (await register(body, ctx)) as { managedInstanceId?: string };
        if (answer.managedInstanceId) this.silentNodes.add(answer.managedInstanceId);
        return answer;
      },
    };
  }
}

/**
 * `POST /__emulator/faults`: `{}` answers the figures so far; `{ "configure": {...} }` replaces the
 * fault options and `{ "resetStats": true }` starts the figures afresh (both answer the figures).
 */
export function faultControls(faults: FaultInjector): Record<string, ControlHandler> {
  return {
    faults: async (body) => {
      const { configure, resetStats, ...rest } = (body ?? {}) as {
        configure?: unknown;
        resetStats?: unknown;
      };
      if (Object.keys(rest).length)
        throw new AwsError('InvalidRequest', `unknown field ${Object.keys(rest)[0]}`);
      if (configure !== undefined) {
        const parsed = faultOptionsSchema.safeParse(configure);
        if (!parsed.success) {
          const issue = parsed.error.issues[0]!;
          throw new AwsError('InvalidRequest', `configure.${issue.path.join('.')}: ${issue.message}`);
        }
        faults.configure(configure as FaultOptions);
      }
      if (resetStats === true) faults.resetStats();
      return { options: faults.options, stats: faults.snapshot() };
    },
  };
}

/** The fault options in `SESSION_LAB_FAULTS` (JSON), if set; a bad value names the variable. */
export function faultOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): FaultOptions | undefined {
  const text = env.SESSION_LAB_FAULTS;
  if (text === undefined || text.trim() === '') return undefined;
  return parseFaultOptions(text, 'SESSION_LAB_FAULTS');
}

/** Parses fault options from JSON text; errors say where the text came from and which field is wrong. */
export function parseFaultOptions(text: string, source: string): FaultOptions {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${source}: not valid JSON`);
  }
  const parsed = faultOptionsSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field =
      issue.path.map(String).join('.') ||
      (issue.code === 'unrecognized_keys' ? issue.keys.join(',') : 'value');
    throw new Error(`${source}: ${field}: ${issue.message}`);
  }
  return value as FaultOptions;
}
