import type { ControlHandler, EmulatorContext, FaultHooks } from '../context.js';
import { findHost } from '../services/managed-nodes/fleet.js';
import { AwsError, RawReply, errorReply, type AwsCall } from '../protocol.js';
import { serverError, shareFor, throttlingError, uniform } from './answers.js';
import { faultOptionsSchema, type FaultConfig, type FaultOptions } from './options.js';

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

const TRANSIENT: TransientFault[] = ['throttle', 'serverError', 'serverErrorAfterEffect'];

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
