/**
 * `npm run bench`: provisions labs on the emulator with the AWS-like profile (local/emulator/time.ts
 * AWS_PROFILE: modelled delays, IAM propagation, per-call latency, rate limits) on a virtual clock
 * (local/runner/virtual-time.ts), and prints and writes (bench/results.json) what it measured:
 * one lab against the critical-path bound, a concurrency sweep against the rate-limit bound, and
 * teardown. bench/README.md describes the model and the method. Every figure comes from this run.
 *
 * Environment: BENCH_SIZES (default 1,10,50,200), BENCH_BUDGET_SECONDS (real seconds for the whole
 * run, default 1500: a size predicted to overrun what is left is skipped, and a run still going at
 * the budget is stopped with what was measured so far), BENCH_OUT (default bench/results.json),
 * BENCH_CLOCK (default compute-free: local compute takes no model time; `realtime`: the clock also
 * runs at real speed while real work is in flight, as before).
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { DescribeVpcsCommand } from '@aws-sdk/client-ec2';
import { ListRolesCommand } from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { GetServiceSettingCommand } from '@aws-sdk/client-ssm';
import { DescribeLogGroupsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { ListSecretsCommand } from '@aws-sdk/client-secrets-manager';
import { labClients, resetClients } from '../functions/shared/clients.js';
import { inventoryCount, labInventory } from '../functions/shared/lab-inventory.js';
import { startEmulator, type Emulator } from '../local/emulator/index.js';
import { busyHostScripts } from '../local/emulator/services/host-exec.js';
import { AWS_PROFILE } from '../local/emulator/time.js';
import { OPERATOR_CREDENTIALS } from '../local/deployment/deploy.js';
import { startLambdaService, type LambdaService } from '../local/runner/lambda-service.js';
import { runLocally, type ExecutionEvent } from '../local/runner/runner.js';
import { VirtualTime } from '../local/runner/virtual-time.js';
import {
  criticalPath,
  orchestrationCost,
  percentile,
  phases,
  registryRequests,
  stateTransitions,
  sweepBound,
} from './model.js';

const REGION = 'us-east-1';
// The tasks' structured logs would drown the table; errors still print.
process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
const realStart = performance.now();
const realSeconds = () => (performance.now() - realStart) / 1000;
const sizes = (process.env.BENCH_SIZES ?? '1,10,50,200')
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
const budgetSeconds = Number(process.env.BENCH_BUDGET_SECONDS ?? 1500);
const outPath = process.env.BENCH_OUT ?? fileURLToPath(new URL('./results.json', import.meta.url));

const clockMode = process.env.BENCH_CLOCK === 'realtime' ? 'realtime' : 'compute-free';
const clock = new VirtualTime({ computeFree: clockMode === 'compute-free' }).install();
/**
 * Execution environments per function (BENCH_CONTAINERS_PER_FUNCTION, default 4): Lambda gives each
 * concurrent invocation one; here each holds a bundle in this process's heap, so past this number
 * labs share them, and their SDK clients' adaptive rate limiters and retry quotas (bench/README.md).
 */
const containersPerFunction = Number(process.env.BENCH_CONTAINERS_PER_FUNCTION ?? 4);
let lambdaService: LambdaService | undefined;
// A Run Command script is real work unless one of its aws calls waits in the emulator's latency
// (its own modelled wait, which only a jump ends).
clock.addBusyProbe(() => busyHostScripts() > 0);
// `kill -USR2 <pid>` prints what the clock waits on (a run that crawls at real speed); so does a
// minute without a jump while sleeps are pending (a stalled clock, e.g. something real never ends).
process.on('SIGUSR2', () => console.error(`bench: clock ${JSON.stringify(clock.state())}`));
let jumpsSeen = -1;
setInterval(() => {
  const state = clock.state();
  if (state.pendingSleeps > 0 && clock.jumps === jumpsSeen)
    console.error(`bench: no jump for 60 real s: ${JSON.stringify(state)}`);
  jumpsSeen = clock.jumps;
}, 60_000).unref();

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
const sortedCalls = (calls: Record<string, number>) =>
  Object.fromEntries(Object.entries(calls).sort(([a], [b]) => a.localeCompare(b)));

interface LabRun {
  labId: string;
  status: 'SUCCEEDED' | 'FAILED';
  error?: string;
  startedAt: number;
  endedAt: number;
  events: ExecutionEvent[];
  lambdaInvocations: number;
  lambdaSeconds: number;
}

/**
 * A fresh account: a new emulator (new moto), the SDK pointed at it, the lab registry in it as
 * deployed (REGISTRY_TABLE: the shared singletons' first holders create them, steps record their
 * progress and publish it on the default bus), the local machinery warm.
 */
async function freshAccount(): Promise<Emulator> {
  const emulator = await startEmulator({ time: { ...AWS_PROFILE, scale: 1 } });
  // Calls' latencies are modelled waits on the virtual clock, not real work.
  emulator.clock.waiter = (ms, origin) => clock.serverWait(ms, origin);
  // The bench's own reads (warm-up, leftovers) are the operator's.
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: emulator.url,
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: OPERATOR_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: OPERATOR_CREDENTIALS.secretAccessKey,
  });
  resetClients();
  // The stack as deployed (roles, registry table, bus), its functions' bundles in this process,
  // where the virtual clock sees their work, each in its own module instance with its own role.
  await lambdaService?.stop();
  lambdaService = await startLambdaService({
    endpoint: emulator.url,
    region: REGION,
    execution: 'in-process',
    containersPerFunction,
  });
  // Warm-up, not measured: one environment of every function (Lambda cold starts do not look like
  // a module import here), Step Functions' own role checks, and one read per service, so moto's
  // first-call set-up is not counted as a lab's time. The reads change nothing in the account.
  await lambdaService.warm();
  const c = labClients();
  await Promise.all([
    c.sts.send(new GetCallerIdentityCommand({})),
    c.ec2.send(new DescribeVpcsCommand({})),
    c.iam.send(new ListRolesCommand({ MaxItems: 1 })),
    c.ssm
      .send(new GetServiceSettingCommand({ SettingId: '/ssm/managed-instance/activation-tier' }))
      .catch(() => undefined),
    c.logs.send(new DescribeLogGroupsCommand({ limit: 1 })),
    c.secrets.send(new ListSecretsCommand({ MaxResults: 1 })),
  ]);
  emulator.traffic.resetCounts();
  return emulator;
}

async function runLab(
  workflow: 'provision-lab' | 'teardown-lab',
  labId: string,
  generation: string,
): Promise<LabRun> {
  let lambdaInvocations = 0;
  let lambdaMs = 0;
  const startedAt = clock.now();
  const run = await runLocally(workflow, {
    input: { labId },
    executionName: `${labId}-${workflow.replace('-lab', '')}-${generation}`,
    region: REGION,
    virtualTime: clock,
    lambdaService,
    onInvoke: ({ startedAt: s, endedAt: e }) => {
      lambdaInvocations += 1;
      lambdaMs += e - s;
    },
  });
  const endedAt = run.events.at(-1)?.timestamp ?? clock.now();
  return {
    labId,
    status: run.status,
    error: run.status === 'FAILED' ? `${run.error}: ${String(run.cause).slice(0, 300)}` : undefined,
    startedAt: run.events[0]?.timestamp ?? startedAt,
    endedAt,
    events: run.events,
    lambdaInvocations,
    lambdaSeconds: lambdaMs / 1000,
  };
}

/** What teardown left of the labs: the count, and what it was (kind: ids), so a leftover can be traced. */
async function leftovers(labIds: string[]): Promise<{ count: number; found: Record<string, string[]> }> {
  let count = 0;
  const found: Record<string, string[]> = {};
  for (const labId of labIds) {
    const inventory = await labInventory(labClients(), labId);
    count += inventoryCount(inventory);
    for (const [kind, ids] of Object.entries(inventory) as [string, string[]][])
      if (ids.length) found[kind] = [...(found[kind] ?? []), ...ids.map((id) => `${labId}: ${id}`)];
  }
  return { count, found };
}

const results: Record<string, unknown> = {
  generatedAt: new Date(performance.timeOrigin + performance.now()).toISOString(),
  machine: {
    cpus: cpus().length,
    node: process.version,
    loadAverageAtStart: loadavg().map((n) => round(n, 2)),
  },
  clock: clockMode,
  method:
    clockMode === 'compute-free'
      ? 'compute-free virtual clock (local/runner/virtual-time.ts): local compute (handlers, emulator, moto, scripts) takes no model time; only modelled waits (per-call latency, AWS delays, Waits, Retry and SDK back-offs) advance it, by jumps; see bench/README.md'
      : 'real-time virtual clock (local/runner/virtual-time.ts, BENCH_CLOCK=realtime): real work (handlers, scripts, emulator calls) at real speed, modelled waits jumped; see bench/README.md',
  profile: AWS_PROFILE,
  criticalPath: criticalPath(AWS_PROFILE),
};
const save = () => writeFileSync(outPath, `${JSON.stringify(results, null, 2)}\n`);

let current: Emulator | undefined;
// The bench stops by itself: past the budget it writes what it has and exits.
const watchdog = setTimeout(() => {
  results.stopped = `budget of ${budgetSeconds} real seconds reached during ${String(results.running)}`;
  if (typeof results.partial === 'function') results.partial = (results.partial as () => unknown)();
  save();
  console.error(`bench: ${String(results.stopped)}; partial results in ${outPath}`);
  void (current?.stop() ?? Promise.resolve()).finally(() => process.exit(2));
}, budgetSeconds * 1000);
watchdog.unref();

// One lab on a fresh account.
{
  results.running = 'single lab';
  const emulator = (current = await freshAccount());
  const real0 = realSeconds();
  const lab = await runLab('provision-lab', 'bench-one', 'g1');
  const calls = emulator.traffic.stats().calls;
  const simulatedSeconds = (lab.endedAt - lab.startedAt) / 1000;
  const path = criticalPath(AWS_PROFILE);
  const transitions = stateTransitions(lab.events);
  const cost = orchestrationCost({
    transitions,
    lambdaInvocations: lab.lambdaInvocations,
    lambdaSeconds: lab.lambdaSeconds,
    registry: registryRequests(calls),
  });
  const provisionReal = realSeconds() - real0;
  const down = await runLab('teardown-lab', 'bench-one', 'g1');
  const left = await leftovers(['bench-one']);
  results.singleLab = {
    status: lab.status,
    ...(lab.error ? { error: lab.error } : {}),
    simulatedSeconds: round(simulatedSeconds),
    criticalPathSeconds: round(path.seconds),
    ratio: round(simulatedSeconds / path.seconds, 3),
    stateTransitions: transitions,
    lambdaInvocations: lab.lambdaInvocations,
    lambdaSeconds: round(lab.lambdaSeconds, 2),
    awsCalls: sortedCalls(calls),
    awsCallsTotal: Object.values(calls).reduce((a, b) => a + b, 0),
    costUsd: round(cost.totalUsd, 6),
    costBreakdownUsd: {
      stepFunctions: round(cost.stepFunctionsUsd, 6),
      lambda: round(cost.lambdaUsd, 6),
      registry: round(cost.registryUsd, 6),
    },
    realSeconds: round(provisionReal),
    timeline: lab.events
      .filter((e) => e.type === 'StateEntered' && e.stateType === 'Task')
      .map((e) => `${round((e.timestamp - lab.startedAt) / 1000)} ${e.state}`),
  };
  results.teardown = {
    status: down.status,
    ...(down.error ? { error: down.error } : {}),
    seconds: round((down.endedAt - down.startedAt) / 1000),
    leftovers: left.count,
    ...(left.count ? { leftoversFound: left.found } : {}),
    stateTransitions: stateTransitions(down.events),
  };
  await lambdaService?.stop();
  await emulator.stop();
  current = undefined;
  save();
}

// The sweep: N labs started together in one fresh account and Region.
const sweep: Record<string, unknown>[] = [];
const skipped: { labs: number; reason: string }[] = [];
results.sweep = sweep;
results.skipped = skipped;
let realPerLab: number | undefined;
for (const labs of sizes) {
  const left = budgetSeconds - realSeconds();
  const predicted = realPerLab === undefined ? undefined : realPerLab * labs * 1.3;
  if (predicted !== undefined && predicted > left) {
    skipped.push({
      labs,
      reason: `predicted ${Math.round(predicted)} real s (from ${round(realPerLab!, 2)} real s per lab at the last size, provision and teardown) > ${Math.round(left)} s left of BENCH_BUDGET_SECONDS=${budgetSeconds} on this ${cpus().length}-core machine`,
    });
    save();
    continue;
  }
  results.running = `sweep of ${labs}`;
  const emulator = (current = await freshAccount());
  const real0 = realSeconds();
  const ids = Array.from({ length: labs }, (_, i) => `sweep-${labs}-${i + 1}`);
  const t0 = clock.now();
  const finished: number[] = [];
  // What the watchdog reports if the budget ends this size.
  results.partial = () => ({
    labs,
    finished: finished.length,
    secondsSoFar: round((clock.now() - t0) / 1000),
    realSecondsSoFar: round(realSeconds() - real0),
  });
  const runs = await Promise.all(
    ids.map((id) =>
      runLab('provision-lab', id, 'g1').then((run) => {
        finished.push((run.endedAt - t0) / 1000);
        return run;
      }),
    ),
  );
  delete results.partial;
  const ends = runs.map((r) => (r.endedAt - t0) / 1000);
  const traffic = emulator.traffic.stats();
  // Read before teardown: the class's provisioning alone.
  const iamPropagationRefusals = emulator.faults.snapshot().injected.iamPropagation;
  const ready = runs.filter((r) => r.status === 'SUCCEEDED').length;
  const makespan = Math.max(...ends);
  const bound = sweepBound(labs, AWS_PROFILE);
  const t1 = clock.now();
  const downs = await Promise.all(ids.map((id) => runLab('teardown-lab', id, 'g1')));
  const teardownSeconds = Math.max(...downs.map((d) => d.endedAt)) / 1000 - t1 / 1000;
  const leftover = await leftovers(ids);
  const row = {
    labs,
    ready,
    failed: labs - ready,
    makespanSeconds: round(makespan),
    boundSeconds: round(bound.seconds),
    ratio: round(makespan / bound.seconds, 3),
    p50Seconds: round(percentile(ends, 50)),
    p95Seconds: round(percentile(ends, 95)),
    throttlesAbsorbed: traffic.absorbed,
    throttlesSurfaced: traffic.surfaced,
    throttledByBucket: traffic.throttled,
    transitionsPerLab: round(runs.reduce((n, r) => n + stateTransitions(r.events), 0) / labs, 1),
    // Every request of the class's provisioning (throttled ones too), and the calls IAM refused
    // while an entity propagated: where the account's rates went.
    awsCalls: sortedCalls(traffic.calls),
    iamPropagationRefusals,
    teardownSeconds: round(teardownSeconds),
    teardownFailed: downs.filter((d) => d.status !== 'SUCCEEDED').length,
    leftovers: leftover.count,
    ...(leftover.count ? { leftoversFound: leftover.found } : {}),
    realSeconds: round(realSeconds() - real0),
    phases: phases(runs, t0),
    ...(ready < labs
      ? { errors: [...new Set(runs.flatMap((r) => (r.error ? [r.error] : [])))].slice(0, 5) }
      : {}),
  };
  sweep.push(row);
  realPerLab = (realSeconds() - real0) / labs;
  await lambdaService?.stop();
  await emulator.stop();
  current = undefined;
  save();
}
delete results.running;
results.realSeconds = round(realSeconds());
(results.machine as Record<string, unknown>).loadAverageAtEnd = loadavg().map((n) => round(n, 2));
save();
clearTimeout(watchdog);
clock.uninstall();

// The table.
const single = results.singleLab as Record<string, number | string | Record<string, number>>;
const td = results.teardown as Record<string, number>;
const line = (cells: (string | number)[], widths: number[]) =>
  cells.map((c, i) => String(c).padStart(widths[i]!)).join('  ');
console.log(`\nOne lab (fresh account, AWS-like profile, ${clockMode} virtual clock)`);
console.log(
  [
    `  simulated ${single.simulatedSeconds} s, critical path ${single.criticalPathSeconds} s, ratio ${single.ratio}`,
    `  state transitions ${single.stateTransitions}, Lambda invocations ${single.lambdaInvocations}, AWS calls ${single.awsCallsTotal}`,
    `  orchestration cost $${single.costUsd} per lab (Step Functions $${(single.costBreakdownUsd as Record<string, number>).stepFunctions}, Lambda $${(single.costBreakdownUsd as Record<string, number>).lambda}, registry $${(single.costBreakdownUsd as Record<string, number>).registry})`,
    `  teardown ${td.seconds} s, leftovers ${td.leftovers}`,
    `  status ${single.status}${single.error ? ` (${single.error})` : ''}; ${single.realSeconds} real s`,
  ].join('\n'),
);
const widths = [6, 6, 7, 10, 8, 7, 7, 7, 10, 10, 9, 7];
console.log('\nSweep (labs started together in one account and Region)');
console.log(
  line(
    [
      'labs',
      'ready',
      'failed',
      'makespan',
      'bound',
      'ratio',
      'p50',
      'p95',
      'throttles',
      'teardown',
      'leftover',
      'real s',
    ],
    widths,
  ),
);
for (const r of sweep)
  console.log(
    line(
      [
        r.labs as number,
        r.ready as number,
        r.failed as number,
        `${String(r.makespanSeconds)}s`,
        `${String(r.boundSeconds)}s`,
        r.ratio as number,
        `${String(r.p50Seconds)}s`,
        `${String(r.p95Seconds)}s`,
        r.throttlesAbsorbed as number,
        `${String(r.teardownSeconds)}s`,
        r.leftovers as number,
        r.realSeconds as number,
      ],
      widths,
    ),
  );
for (const s of skipped) console.log(`  ${s.labs} labs skipped: ${s.reason}`);
console.log(`\nwritten ${outPath} (${round(realSeconds())} real s)`);
