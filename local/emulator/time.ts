/**
 * Every delay the emulator models, in seconds of AWS time, from one profile. `scale` maps model
 * seconds to real ones (0.01 = a 40 s boot takes 0.4 s), so tests run in seconds and benchmarks
 * can model real latencies with the same code.
 */
export interface TimeProfile {
  scale: number;
  /** RunInstances until the instance's agent is Online with an instance profile. */
  ec2BootSeconds: number;
  /** `systemctl start amazon-ssm-agent` on a registered host until the mi- node is Online. */
  agentOnlineSeconds: number;
  /** UpdateServiceSetting until the activation tier leaves PendingUpdate. */
  tierChangeSeconds: number;
  /** SendCommand until GetCommandInvocation stops answering InvocationDoesNotExist. */
  invocationVisibleSeconds: number;
  /** How long a Run Command script may run before it is killed (execution timeout cap). */
  commandTimeoutSeconds: number;
  /**
   * IAM propagation: a role, instance profile or user created less than this ago is not yet usable
   * by EC2, SSM or IAM (faults.ts applies it). 0 (the default) = at once.
   */
  iamVisibilitySeconds: number;
  /** Per-call API latency by operation family (latency.ts). Off by default: tests stay fast. */
  apiLatency: boolean;
  /** Per-account API rate limits as token buckets (rate-limits.ts). Off by default. */
  rateLimits: boolean;
}

/** Figures close to what AWS shows; bench/README.md documents their sources. */
export const REALISTIC_PROFILE: Omit<TimeProfile, 'scale'> = {
  ec2BootSeconds: 40,
  agentOnlineSeconds: 15,
  tierChangeSeconds: 120,
  invocationVisibleSeconds: 2,
  commandTimeoutSeconds: 600,
  iamVisibilitySeconds: 0,
  apiLatency: false,
  rateLimits: false,
};

/**
 * The benchmark's profile (bench/README.md gives each figure's source or assumption): AWS-like
 * delays, IAM propagation, per-call latency and the account's rate limits, at scale 1 on the
 * bench's virtual clock.
 */
export const AWS_PROFILE: Omit<TimeProfile, 'scale'> = {
  ec2BootSeconds: 40,
  agentOnlineSeconds: 15,
  tierChangeSeconds: 180,
  invocationVisibleSeconds: 2,
  commandTimeoutSeconds: 600,
  iamVisibilitySeconds: 10,
  apiLatency: true,
  rateLimits: true,
};

export function timeProfile(overrides: Partial<TimeProfile> = {}): TimeProfile {
  return { scale: 0.005, ...REALISTIC_PROFILE, ...overrides };
}

/** Where the request a modelled wait belongs to came from. */
export interface WaitOrigin {
  /**
   * Another process sent it (a simulated host's `aws`), not this one: no client request of this
   * process stands for it (the benchmark's virtual clock counts this process's own requests).
   */
  external?: boolean;
}

export class Clock {
  /**
   * How a modelled wait inside the emulator (a call's latency) is slept, in real ms: a timer by
   * default; the benchmark's virtual clock replaces it so that such waits are jumped, not waited.
   */
  waiter: (realMs: number, origin?: WaitOrigin) => Promise<void> = (ms) =>
    new Promise((resolve) => setTimeout(resolve, ms));

  constructor(readonly profile: TimeProfile) {}

  /** Real milliseconds for `modelSeconds` of AWS time. */
  realMs(modelSeconds: number): number {
    return modelSeconds * this.profile.scale * 1000;
  }

  /** True once `modelSeconds` of AWS time have passed since the real instant `sinceMs`. */
  hasElapsed(sinceMs: number, modelSeconds: number): boolean {
    return Date.now() - sinceMs >= this.realMs(modelSeconds);
  }

  /** Waits `modelSeconds` of AWS time (scaled to real time). */
  sleep(modelSeconds: number): Promise<void> {
    return this.pause(this.realMs(modelSeconds));
  }

  /** Waits `realMs` real milliseconds through the waiter. */
  pause(realMs: number, origin?: WaitOrigin): Promise<void> {
    return realMs > 0 ? this.waiter(realMs, origin) : Promise.resolve();
  }

  /** Model seconds since the real instant `sinceMs`. */
  modelSecondsSince(sinceMs: number): number {
    return this.profile.scale > 0 ? (Date.now() - sinceMs) / 1000 / this.profile.scale : Infinity;
  }
}
