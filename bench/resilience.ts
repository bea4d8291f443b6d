/**
 * Resilience benchmark: N labs provisioned concurrently against one local emulator that throttles
 * and fails a share of every operation, then torn down; prints what happened. Figures, not
 * assertions (test/integration/workflows/resilience.test.ts asserts a small version).
 *
 *   npx tsx bench/resilience.ts [--labs 20] [--throttle 0.1] [--server-error 0.02] [--lost-replies 0]
 *       [--iam-propagation-seconds 0] [--seed 1] [--clock virtual|scaled] [--time-scale 0.05]
 *       [--containers 4] [--json]
 *
 * The local runner executes the shipped state machines with the deployed bundles, each under its own
 * role (adaptive retry, SESSION_LAB_MAX_ATTEMPTS attempts), against the emulator: on the virtual
 * clock in this process (module instances of their own, up to --containers per function, which labs
 * beyond that share), scaled in worker threads. By default on the virtual clock
 * (local/runner/virtual-time.ts): real work (handlers, emulator calls, the registration scripts)
 * at real speed, modelled waits jumped, so the workflows' time budgets (the registration wait, the
 * Lambda timeouts) are AWS's whatever the machine's load; `--clock scaled` runs on real time
 * scaled by `--time-scale` instead, where 20 labs' scripts on 2 cores outlast the scaled waits.
 */
import { parseArgs } from 'node:util';

// Before any handler module loads: the tasks' logs would drown the figures (errors still print).
process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';

const { values: args } = parseArgs({
  options: {
    labs: { type: 'string', default: '20' },
    throttle: { type: 'string', default: '0.1' },
    'server-error': { type: 'string', default: '0.02' },
    'lost-replies': { type: 'string', default: '0' },
    'iam-propagation-seconds': { type: 'string', default: '0' },
    seed: { type: 'string', default: '1' },
    'time-scale': { type: 'string', default: '0.05' },
    clock: { type: 'string', default: 'virtual' },
    containers: { type: 'string', default: '4' },
    json: { type: 'boolean', default: false },
  },
});

const labs = Number(args.labs);
const virtual = args.clock !== 'scaled';
const timeScale = virtual ? 1 : Number(args['time-scale']);
const iamPropagationSeconds = Number(args['iam-propagation-seconds']);
const faultOptions = {
  seed: Number(args.seed),
  throttle: Number(args.throttle),
  serverError: Number(args['server-error']),
  ...(iamPropagationSeconds > 0 ? { iamPropagationSeconds } : {}),
  ...(Number(args['lost-replies']) > 0 ? { serverErrorAfterEffect: Number(args['lost-replies']) } : {}),
};

const { startEmulator } = await import('../local/emulator/index.js');
const { busyHostScripts } = await import('../local/emulator/services/host-exec.js');
const { runLocally } = await import('../local/runner/runner.js');
const { startLambdaService } = await import('../local/runner/lambda-service.js');
const { OPERATOR_CREDENTIALS } = await import('../local/deployment/deploy.js');
const { VirtualTime } = await import('../local/runner/virtual-time.js');
const { labClients, resetClients } = await import('../functions/shared/clients.js');
const { inventoryCount, labInventory } = await import('../functions/shared/lab-inventory.js');
type LocalRunResult = Awaited<ReturnType<typeof runLocally>>;

const clock = virtual ? new VirtualTime().install() : undefined;
clock?.addBusyProbe(() => busyHostScripts() > 0);
const now = () => (clock ? clock.now() : Date.now());
const emulator = await startEmulator({ time: { scale: timeScale }, faults: faultOptions });
const injecting = emulator.faults.options;
if (clock) emulator.clock.waiter = (ms, origin) => clock.serverWait(ms, origin);
Object.assign(process.env, {
  AWS_ENDPOINT_URL: emulator.url,
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: OPERATOR_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: OPERATOR_CREDENTIALS.secretAccessKey,
});
delete process.env.AWS_PROFILE;
resetClients();
// The virtual clock sees only this process's work: there the bundles run in it.
const lambdaService = await startLambdaService({
  endpoint: emulator.url,
  region: 'us-east-1',
  ...(virtual ? { execution: 'in-process', containersPerFunction: Number(args.containers) } : {}),
});
await lambdaService.warm();

const labIds = Array.from({ length: labs }, (_, i) => `bench-${String(i + 1).padStart(2, '0')}`);
const seconds = (ms: number) => Math.round(ms / 100) / 10;

/** State-level retries (Step Functions Retry) by state and error name, across the runs. */
function stateRetries(runs: LocalRunResult[]): Record<string, number> {
  const byError: Record<string, number> = {};
  for (const run of runs) {
    const failedBefore = new Map<string, string>();
    for (const event of run.events) {
      if (event.type === 'StateFailed' && event.state) failedBefore.set(event.state, event.error ?? '?');
      if (event.type === 'StateRetried' && event.state) {
        const key = `${event.state}: ${failedBefore.get(event.state) ?? 'unknown'}`;
        byError[key] = (byError[key] ?? 0) + 1;
      }
    }
  }
  return byError;
}

/** Model time (the virtual clock, or real time over the scale) and real time of each run and of all. */
async function runAll(name: 'provision-lab' | 'teardown-lab', action: string) {
  const started = { model: now(), real: performance.now() };
  const runs = await Promise.all(
    labIds.map(async (labId) => {
      const t0 = now();
      const run = await runLocally(name, {
        input: { labId },
        executionName: `${labId}-${action}-1`,
        timeScale,
        virtualTime: clock,
        lambdaService,
      });
      return { labId, run, seconds: seconds((now() - t0) / timeScale) };
    }),
  );
  return {
    runs,
    modelSeconds: seconds((now() - started.model) / timeScale),
    wallSeconds: seconds(performance.now() - started.real),
  };
}

console.error(
  `resilience: ${labs} labs, faults ${JSON.stringify(injecting)}, ` +
    (virtual ? 'virtual clock' : `time scale ${timeScale}`),
);
let provision: Awaited<ReturnType<typeof runAll>>;
let teardown: Awaited<ReturnType<typeof runAll>>;
let afterProvision: ReturnType<typeof emulator.faults.snapshot>;
let leftovers: Record<string, number>;
try {
  provision = await runAll('provision-lab', 'provision');
  afterProvision = emulator.faults.snapshot();
  console.error(`provisioned in ${provision.wallSeconds} s (real); tearing down`);
  teardown = await runAll('teardown-lab', 'teardown');
  // What is left is counted without faults, so the count itself cannot be disturbed.
  emulator.faults.configure({});
  leftovers = Object.fromEntries(
    await Promise.all(
      labIds.map(async (labId) => [labId, inventoryCount(await labInventory(labClients(), labId))] as const),
    ),
  );
} finally {
  await lambdaService.stop();
  await emulator.stop();
  clock?.uninstall();
}

const total = emulator.faults.snapshot();
const ready = provision.runs.filter(
  (r) => r.run.status === 'SUCCEEDED' && (r.run.output as { ok?: boolean })?.ok,
);
const failed = provision.runs.filter((r) => !ready.includes(r));
const durations = provision.runs.map((r) => r.seconds).sort((a, b) => a - b);
const faultTotals = (stats: typeof total) => ({
  requests: stats.requests,
  throttlesInjected: stats.injected.throttle,
  throttlesAbsorbed: stats.absorbed.throttle,
  throttlesSurfaced: stats.surfaced.throttle,
  serverErrorsInjected: stats.injected.serverError,
  serverErrorsAbsorbed: stats.absorbed.serverError,
  serverErrorsSurfaced: stats.surfaced.serverError,
  surfacedByOperation: stats.surfacedByOperation,
  iamPropagationRefusals: stats.injected.iamPropagation,
  lostReplies: stats.injected.serverErrorAfterEffect,
});
const mostFaulted = Object.entries(total.byOperation)
  .map(([op, row]) => ({ op, requests: row.requests, faults: (row.throttle ?? 0) + (row.serverError ?? 0) }))
  .sort((a, b) => b.faults - a.faults)
  .slice(0, 8);
const figures = {
  labs,
  clock: virtual ? 'virtual' : `scaled ${timeScale}`,
  options: injecting,
  provision: {
    wallSeconds: provision.wallSeconds,
    modelSeconds: provision.modelSeconds,
    ready: ready.length,
    failed: failed.length,
    failures: failed.map((r) => ({ labId: r.labId, error: r.run.error, cause: r.run.cause?.slice(0, 300) })),
    labSeconds: {
      min: durations[0],
      median: durations[Math.floor(durations.length / 2)],
      max: durations.at(-1),
    },
    stateRetries: stateRetries(provision.runs.map((r) => r.run)),
    faults: faultTotals(afterProvision),
  },
  teardown: {
    wallSeconds: teardown.wallSeconds,
    modelSeconds: teardown.modelSeconds,
    succeeded: teardown.runs.filter((r) => r.run.status === 'SUCCEEDED').length,
    failed: teardown.runs
      .filter((r) => r.run.status !== 'SUCCEEDED')
      .map((r) => ({ labId: r.labId, error: r.run.error, cause: r.run.cause?.slice(0, 300) })),
    stateRetries: stateRetries(teardown.runs.map((r) => r.run)),
  },
  faults: faultTotals(total),
  mostFaulted,
  leftovers: {
    labsWithLeftovers: Object.values(leftovers).filter((n) => n > 0).length,
    resources: Object.values(leftovers).reduce((a, b) => a + b, 0),
    byLab: Object.fromEntries(Object.entries(leftovers).filter(([, n]) => n > 0)),
  },
};

if (args.json) console.log(JSON.stringify(figures, null, 2));
else {
  const f = figures;
  const lines = [
    `labs ${f.labs}, clock ${f.clock}, faults ${JSON.stringify(f.options)}`,
    `provision: ${f.provision.ready} ready, ${f.provision.failed} failed; wall ${f.provision.wallSeconds} s real,` +
      ` ${f.provision.modelSeconds} s model (per lab min ${f.provision.labSeconds.min} / median` +
      ` ${f.provision.labSeconds.median} / max ${f.provision.labSeconds.max} s model)`,
    ...f.provision.failures.map((x) => `  failed ${x.labId}: ${x.error}: ${x.cause}`),
    `  state retries: ${JSON.stringify(f.provision.stateRetries)}`,
    `teardown: ${f.teardown.succeeded} succeeded, ${f.teardown.failed.length} failed;` +
      ` wall ${f.teardown.wallSeconds} s real, ${f.teardown.modelSeconds} s model`,
    ...f.teardown.failed.map((x) => `  failed ${x.labId}: ${x.error}: ${x.cause}`),
    `  state retries: ${JSON.stringify(f.teardown.stateRetries)}`,
    `AWS requests ${f.faults.requests}:` +
      ` throttles injected ${f.faults.throttlesInjected}, absorbed ${f.faults.throttlesAbsorbed}, surfaced ${f.faults.throttlesSurfaced};` +
      ` 5xx injected ${f.faults.serverErrorsInjected}, absorbed ${f.faults.serverErrorsAbsorbed}, surfaced ${f.faults.serverErrorsSurfaced}` +
      (f.faults.iamPropagationRefusals
        ? `; IAM propagation refusals ${f.faults.iamPropagationRefusals}`
        : '') +
      (f.faults.lostReplies ? `; lost replies (took effect, answered 500) ${f.faults.lostReplies}` : '') +
      (Object.keys(f.faults.surfacedByOperation).length
        ? `; surfaced at ${JSON.stringify(f.faults.surfacedByOperation)}`
        : ''),
    `most faulted: ${f.mostFaulted.map((m) => `${m.op} ${m.faults}/${m.requests}`).join(', ')}`,
    `leftovers: ${f.leftovers.resources} resources in ${f.leftovers.labsWithLeftovers} labs` +
      (f.leftovers.labsWithLeftovers ? ` ${JSON.stringify(f.leftovers.byLab)}` : ''),
  ];
  console.log(lines.join('\n'));
}
process.exit(0);
