/**
 * The benchmark's pure parts: the critical-path lower bound of the emulator's model, the rate-limit
 * bound of a sweep, transition counting, cost and percentiles. bench/README.md explains each.
 */
import { callLatency } from '../local/emulator/latency.js';
import { RATE_LIMITS, type BucketSpec } from '../local/emulator/rate-limits.js';
import type { TimeProfile } from '../local/emulator/time.js';

/** Step Functions Standard, us-east-1. */
export const USD_PER_STATE_TRANSITION = 0.025 / 1000;
/** Lambda x86 in us-east-1: per GB-second of billed duration and per request (AWS pricing page). */
export const USD_PER_LAMBDA_GB_SECOND = 0.0000166667;
export const USD_PER_LAMBDA_REQUEST = 0.2 / 1_000_000;
/**
 * The lab registry (DynamoDB on demand) and its progress events (EventBridge custom events), in
 * us-east-1, from the AWS pricing pages as remembered (not checked): $0.625 per million
 * write request units, $0.125 per million read request units, $1.00 per million events. Each
 * request is counted as one unit; an item over 1 KB (a lab item holding its report) takes more.
 */
export const USD_PER_REGISTRY_WRITE = 0.625 / 1_000_000;
export const USD_PER_REGISTRY_READ = 0.125 / 1_000_000;
export const USD_PER_EVENT = 1 / 1_000_000;
/** infra/constructs/lab-functions.ts gives every task 256 MB. */
export const LAMBDA_MEMORY_GB = 0.25;
/** Hosts per lab: four lab hosts and the bootstrap host (seed 3.5). */
export const HOSTS_PER_LAB = 5;

type Profile = Omit<TimeProfile, 'scale'>;
const L = (service: string, operation: string) => callLatency({ service, operation }).seconds;

export interface CriticalPath {
  /** UpdateServiceSetting, the tier's switch, then one GetServiceSetting that sees it. */
  tierSeconds: number;
  /** Instance role and profile, IAM propagation, launch, boot, command, registration, SSH rule revoked. */
  hostsSeconds: number;
  /** Launch to ready for one lab's hosts (the part of `hostsSeconds` after RunInstances is admitted). */
  afterLaunchSeconds: number;
  /** Before RunInstances can succeed: the instance profile created and visible. */
  beforeLaunchSeconds: number;
  /** One round of the verification's reads (they can run side by side). */
  verifySeconds: number;
  seconds: number;
}

/**
 * The longest chain of unavoidable modelled waits for one lab on a fresh account: every step needs
 * at least its calls' latency, the profile's delays are waits no workflow can shorten, and real
 * compute (handlers, the registration script) counts as zero. So no run can beat it.
 */
export function criticalPath(profile: Profile): CriticalPath {
  const tierSeconds =
    L('ssm', 'UpdateServiceSetting') + profile.tierChangeSeconds + L('ssm', 'GetServiceSetting');
  const beforeLaunchSeconds =
    L('iam', 'CreateRole') +
    L('iam', 'CreateInstanceProfile') +
    L('iam', 'AddRoleToInstanceProfile') +
    profile.iamVisibilitySeconds;
  const verifySeconds = L('iam', 'SimulatePrincipalPolicy');
  const afterLaunchSeconds =
    L('ec2', 'RunInstances') +
    profile.ec2BootSeconds +
    L('ssm', 'SendCommand') +
    profile.agentOnlineSeconds +
    L('ec2', 'RevokeSecurityGroupIngress');
  const hostsSeconds = beforeLaunchSeconds + afterLaunchSeconds;
  return {
    tierSeconds,
    hostsSeconds,
    beforeLaunchSeconds,
    afterLaunchSeconds,
    verifySeconds,
    // The lab is verified beside the wait for the tier (state-machine/README.md), not after it.
    seconds: Math.max(tierSeconds, hostsSeconds + verifySeconds),
  };
}

/** Seconds until a bucket has admitted `demand` tokens, taken as fast as it allows from full. */
export function admissionSeconds(demand: number, bucket: BucketSpec): number {
  return Math.max(0, (demand - bucket.capacity) / bucket.refillPerSecond);
}

function bucketOf(name: string): BucketSpec {
  const rule = RATE_LIMITS.find((r) => r.name === name);
  if (!rule) throw new Error(`no rate limit named ${name}`);
  return rule.spec;
}

/**
 * The lower bound for `labs` labs started together in one account and Region: the single lab's
 * critical path, or the launch of the last lab's hosts through the RunInstances buckets (its
 * request bucket and its instance bucket) followed by that lab's chain after launch, whichever is
 * longer. Other buckets only make it longer, so leaving them out keeps it a lower bound.
 */
export function sweepBound(
  labs: number,
  profile: Profile,
  runInstancesCallsPerLab = HOSTS_PER_LAB,
): { seconds: number; launchAdmissionSeconds: number } {
  const path = criticalPath(profile);
  const launchAdmissionSeconds = Math.max(
    admissionSeconds(labs * runInstancesCallsPerLab, bucketOf('ec2:mutating')),
    admissionSeconds(labs * HOSTS_PER_LAB, bucketOf('ec2:RunInstances instances')),
  );
  const lastLab =
    Math.max(path.beforeLaunchSeconds, launchAdmissionSeconds) + path.afterLaunchSeconds + path.verifySeconds;
  return { seconds: Math.max(path.seconds, lastLab), launchAdmissionSeconds };
}

interface CountedEvent {
  type: string;
}

/**
 * Billed state transitions of an execution: every state entered (Task, Pass, Choice, Wait,
 * Parallel, Map, Succeed, Fail) plus every Retry of a Task (retries are billed:
 * docs/aws-behaviours.md#retry-fields).
 */
export function stateTransitions(events: CountedEvent[]): number {
  return events.filter((e) => e.type === 'StateEntered' || e.type === 'StateRetried').length;
}

export interface CostInputs {
  transitions: number;
  lambdaInvocations: number;
  /** Summed Lambda run time (seconds), each invocation as it ran, latency of its calls included. */
  lambdaSeconds: number;
  /** The registry's DynamoDB requests and the progress events the run sent. */
  registry?: { writes: number; reads: number; events: number };
}

/**
 * Orchestration cost in USD: Step Functions transitions, Lambda requests and GB-seconds, and the
 * lab registry's requests and progress events.
 */
export function orchestrationCost(inputs: CostInputs): {
  stepFunctionsUsd: number;
  lambdaUsd: number;
  registryUsd: number;
  totalUsd: number;
} {
  const stepFunctionsUsd = inputs.transitions * USD_PER_STATE_TRANSITION;
  const lambdaUsd =
    inputs.lambdaInvocations * USD_PER_LAMBDA_REQUEST +
    inputs.lambdaSeconds * LAMBDA_MEMORY_GB * USD_PER_LAMBDA_GB_SECOND;
  const { writes = 0, reads = 0, events = 0 } = inputs.registry ?? {};
  const registryUsd =
    writes * USD_PER_REGISTRY_WRITE + reads * USD_PER_REGISTRY_READ + events * USD_PER_EVENT;
  return { stepFunctionsUsd, lambdaUsd, registryUsd, totalUsd: stepFunctionsUsd + lambdaUsd + registryUsd };
}

const DYNAMODB_WRITES = /^(PutItem|UpdateItem|DeleteItem|BatchWriteItem|TransactWriteItems)$/;

/** The registry requests and events among a run's AWS calls (`service:Operation` -> count). */
export function registryRequests(calls: Record<string, number>): {
  writes: number;
  reads: number;
  events: number;
} {
  let writes = 0;
  let reads = 0;
  let events = 0;
  for (const [key, n] of Object.entries(calls)) {
    const [service, operation = ''] = key.split(':');
    if (service === 'dynamodb') {
      if (DYNAMODB_WRITES.test(operation)) writes += n;
      else reads += n;
    } else if (key === 'events:PutEvents') events += n;
  }
  return { writes, reads, events };
}

/** Nearest-rank percentile (p in 0..100) of the values; NaN for none. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

interface PhaseEvent {
  type: string;
  timestamp: number;
  state?: string;
  stateType?: string;
  error?: string;
}

export interface Phase {
  /** Labs whose execution left this Task state. */
  labs: number;
  /** When the state was left for the last time, seconds after the sweep's start: median and latest. */
  endP50Seconds: number;
  endMaxSeconds: number;
  /** Retries of the state over all labs (polls and back-offs alike). */
  retries: number;
  /** The state's failed invocations over all labs, by error name: what its retries were for. */
  failures: Record<string, number>;
}

/**
 * Where a sweep's time went: for every Task state, when the labs left it, and how often it was
 * retried. Ordered by the median end, so the slow phase of the slowest labs stands out.
 */
export function phases(runs: { events: PhaseEvent[] }[], startedAt: number): Record<string, Phase> {
  const ends = new Map<string, number[]>();
  const retries = new Map<string, number>();
  const failures = new Map<string, Record<string, number>>();
  for (const { events } of runs) {
    const lastExit = new Map<string, number>();
    for (const event of events) {
      if (!event.state) continue;
      if (event.type === 'StateRetried') retries.set(event.state, (retries.get(event.state) ?? 0) + 1);
      if (event.type === 'TaskFailed') {
        const byError = failures.get(event.state) ?? {};
        const error = event.error ?? 'unknown';
        byError[error] = (byError[error] ?? 0) + 1;
        failures.set(event.state, byError);
      }
      if (event.type === 'StateExited' && event.stateType === 'Task')
        lastExit.set(event.state, event.timestamp);
    }
    for (const [state, at] of lastExit)
      ends.set(state, [...(ends.get(state) ?? []), (at - startedAt) / 1000]);
  }
  const rows = [...ends].map(([state, seconds]): [string, Phase] => [
    state,
    {
      labs: seconds.length,
      endP50Seconds: Math.round(percentile(seconds, 50) * 10) / 10,
      endMaxSeconds: Math.round(Math.max(...seconds) * 10) / 10,
      retries: retries.get(state) ?? 0,
      failures: failures.get(state) ?? {},
    },
  ]);
  return Object.fromEntries(rows.sort(([, a], [, b]) => a.endP50Seconds - b.endP50Seconds));
}
