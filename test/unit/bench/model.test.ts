import {
  admissionSeconds,
  criticalPath,
  orchestrationCost,
  percentile,
  phases,
  registryRequests,
  stateTransitions,
  sweepBound,
} from '../../../bench/model.js';
import { AWS_PROFILE } from '../../../local/emulator/time.js';

describe('bench model', () => {
  it('critical path: the longer of the tier switch and the hosts chain with its verification round', () => {
    const path = criticalPath(AWS_PROFILE);
    // UpdateServiceSetting (0.1 s) + 180 s + the GetServiceSetting that sees it (0.06 s).
    expect(path.tierSeconds).toBeCloseTo(180.16);
    // 3 IAM writes (0.9) + 10 s propagation, then RunInstances 1 + boot 40 + SendCommand 0.2 + Online 15 + revoke 0.3.
    expect(path.beforeLaunchSeconds).toBeCloseTo(10.9);
    expect(path.afterLaunchSeconds).toBeCloseTo(56.5);
    // Verified beside the tier wait: the tier alone is the path.
    expect(path.seconds).toBeCloseTo(180.16);
    const shortTier = criticalPath({ ...AWS_PROFILE, tierChangeSeconds: 10 });
    expect(shortTier.seconds).toBeCloseTo(10.9 + 56.5 + 0.12);
  });

  it('sweep bound: launches beyond the buckets wait for their refill', () => {
    expect(admissionSeconds(150, { capacity: 200, refillPerSecond: 5 })).toBe(0);
    expect(admissionSeconds(1000, { capacity: 200, refillPerSecond: 5 })).toBe(160);
    expect(sweepBound(1, AWS_PROFILE).seconds).toBeCloseTo(criticalPath(AWS_PROFILE).seconds);
    // 200 labs: 1000 RunInstances requests through 200 + 5/s = 160 s, then 56.5 s to ready + 0.12.
    const bound = sweepBound(200, AWS_PROFILE);
    expect(bound.launchAdmissionSeconds).toBe(160);
    expect(bound.seconds).toBeCloseTo(160 + 56.5 + 0.12);
  });

  it('counts billed transitions (states entered and retries) and prices them', () => {
    const events = [
      { type: 'ExecutionStarted' },
      { type: 'StateEntered' },
      { type: 'StateRetried' },
      { type: 'StateExited' },
      { type: 'StateEntered' },
    ];
    expect(stateTransitions(events)).toBe(3);
    const cost = orchestrationCost({ transitions: 80, lambdaInvocations: 40, lambdaSeconds: 20 });
    expect(cost.stepFunctionsUsd).toBeCloseTo(0.002);
    expect(cost.lambdaUsd).toBeCloseTo(40 * 0.0000002 + 20 * 0.25 * 0.0000166667);
    expect(cost.totalUsd).toBeCloseTo(cost.stepFunctionsUsd + cost.lambdaUsd);
    expect(cost.registryUsd).toBe(0);
  });

  it('cost: the registry requests and progress events of a run, counted from its AWS calls', () => {
    const registry = registryRequests({
      'dynamodb:UpdateItem': 60,
      'dynamodb:GetItem': 10,
      'dynamodb:Query': 2,
      'events:PutEvents': 40,
      'ssm:GetServiceSetting': 22,
    });
    expect(registry).toEqual({ writes: 60, reads: 12, events: 40 });
    const cost = orchestrationCost({ transitions: 0, lambdaInvocations: 0, lambdaSeconds: 0, registry });
    expect(cost.registryUsd).toBeCloseTo(60 * 0.625e-6 + 12 * 0.125e-6 + 40 * 1e-6, 12);
    expect(cost.totalUsd).toBe(cost.registryUsd);
  });

  it('nearest-rank percentiles', () => {
    const values = [5, 1, 4, 2, 3, 6, 7, 8, 9, 10];
    expect(percentile(values, 50)).toBe(5);
    expect(percentile(values, 95)).toBe(10);
    expect(percentile([42], 95)).toBe(42);
    expect(percentile([], 50)).toBeNaN();
  });
});

describe('bench phases', () => {
  it('when the labs left each Task state (its last exit), its retries and their errors, ordered by the median end', () => {
    const lab = (launchEnd: number, verifyEnd: number, launchRetries: number) => ({
      events: [
        { type: 'StateEntered', timestamp: 1000, state: 'Launch instances', stateType: 'Task' },
        ...Array.from({ length: launchRetries }, () => [
          {
            type: 'TaskFailed',
            timestamp: 1400,
            state: 'Launch instances',
            stateType: 'Task',
            error: 'Throttled',
          },
          { type: 'StateRetried', timestamp: 1500, state: 'Launch instances', stateType: 'Task' },
        ]).flat(),
        {
          type: 'StateExited',
          timestamp: 1000 + launchEnd * 1000,
          state: 'Launch instances',
          stateType: 'Task',
        },
        { type: 'StateExited', timestamp: 1000 + verifyEnd * 1000, state: 'Verify lab', stateType: 'Task' },
        {
          type: 'StateExited',
          timestamp: 1000 + verifyEnd * 1000,
          state: 'Lab verified?',
          stateType: 'Choice',
        },
      ],
    });
    const summary = phases([lab(20, 90, 0), lab(40, 80, 2), lab(30, 120, 1)], 1000);
    expect(Object.keys(summary)).toEqual(['Launch instances', 'Verify lab']);
    expect(summary['Launch instances']).toEqual({
      labs: 3,
      endP50Seconds: 30,
      endMaxSeconds: 40,
      retries: 3,
      failures: { Throttled: 3 },
    });
    expect(summary['Verify lab']).toEqual({
      labs: 3,
      endP50Seconds: 90,
      endMaxSeconds: 120,
      retries: 0,
      failures: {},
    });
  });
});
