import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from '@jest/globals';
import { placeholdersOf } from '../../../infra/asl.js';
import {
  LAB_FUNCTIONS,
  STATE_MACHINES,
  functionArnPlaceholder,
  stateMachineArnPlaceholder,
} from '../../../infra/functions.js';
import { RETRYABLE_ERRORS } from '../../../functions/shared/errors.js';
import { allStates, lambdaTasks, loadAsl, type Definition, type State } from '../../helpers/asl.js';

type Validator = (
  definition: unknown,
  options?: { checkPaths: boolean; checkArn: boolean },
) => { isValid: boolean; errorsText: (separator?: string) => string };
const aslValidator = createRequire(import.meta.url)('asl-validator') as Validator;

/** The task folders of the contract: the first column of functions/README.md's tables. */
const contractFolders = () => {
  const readme = readFileSync(new URL('../../../functions/README.md', import.meta.url), 'utf8');
  return new Set([...readme.matchAll(/^\|\s*`([a-z0-9-]+)`\s*\|/gm)].map((match) => match[1]!));
};

const LAMBDA_TRANSIENT = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.TooManyRequestsException',
];

/** `create-instance-role` -> `Create instance role`: a Lambda task's state name. */
const stepName = (folder: string) => folder.charAt(0).toUpperCase() + folder.slice(1).replace(/-/g, ' ');

/** The tasks that keep the lab registry: they also retry a lost optimistic write (RegistryConflict). */
const REGISTRY_TASKS = ['record-lab-status', 'acquire-shared-resources', 'release-shared-resources'];
/** The state that records a workflow's failure in the registry on the way to its Fail. */
const isFailureRecorder = (state: string) => /^Record (provision|teardown|reset) failure$/.test(state);
/**
 * A task on a failure's way to its record that removes what must not outlive a failed run
 * (provision's activations and their codes): the failure it follows is kept beside the state
 * (`$.failure`), its own failure beside that (`$.cleanupError`), and either way it goes on.
 */
const isFailureCleanup = (state: State | undefined) => {
  const catcher = (state?.Catch as { Next: string; ResultPath?: string }[] | undefined)?.[0];
  return state?.Type === 'Task' && catcher?.ResultPath === '$.cleanupError' && catcher.Next === state.Next;
};
/** The Pass after a failure cleanup that puts the kept failure back as the error and cause. */
const restoresFailure = (state: State | undefined) =>
  state?.Type === 'Pass' &&
  JSON.stringify(state.Parameters) ===
    JSON.stringify({ 'Error.$': '$.failure.Error', 'Cause.$': '$.failure.Cause' });
interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: string;
}

describe.each(STATE_MACHINES)('state-machine/%s.asl.json', (name) => {
  const definition = loadAsl(name);
  const states = allStates(definition);
  /** A class's per-lab task, inside provision-class's Map. */
  const isMapItem = (state: string) => name === 'provision-class' && state === 'Provision lab';

  it('is valid Amazon States Language (asl-validator, paths and ARNs checked)', () => {
    const result = aslValidator(structuredClone(definition), { checkPaths: true, checkArn: true });
    expect(result.errorsText('\n')).toBe('');
    expect(result.isValid).toBe(true);
  });

  it('bounds the execution and every task in time', () => {
    expect(definition.TimeoutSeconds).toEqual(expect.any(Number));
    for (const { name: stateName, state } of states.filter(({ state }) => state.Type === 'Task')) {
      expect([stateName, state.TimeoutSeconds]).toEqual([stateName, expect.any(Number)]);
    }
  });

  it('retries every task on transient service errors with backoff and full jitter, and catches everything else', () => {
    for (const { name: stateName, state } of states.filter(({ state }) => state.Type === 'Task')) {
      const retry = (state.Retry ?? []) as Retrier[];
      const isLambda = state.Resource === 'arn:aws:states:::lambda:invoke';
      const wanted = isLambda
        ? [LAMBDA_TRANSIENT, RETRYABLE_ERRORS.filter((e) => e !== 'Throttled'), ['Throttled']]
        : [['StepFunctions.ExecutionLimitExceeded']];
      // A poll task's NotReadyYet has its own retrier, the poll (see the test of polls below).
      const poll = retry.find((r) => r.ErrorEquals.includes('NotReadyYet') && r.JitterStrategy === 'NONE');
      for (const errors of wanted.map((list) => (poll ? list.filter((e) => e !== 'NotReadyYet') : list))) {
        const retrier = retry.find((r) => errors.every((error) => r.ErrorEquals.includes(error)));
        expect([stateName, retrier && errors]).toEqual([stateName, errors]);
        expect(retrier).toMatchObject({
          BackoffRate: expect.any(Number),
          MaxDelaySeconds: expect.any(Number),
          JitterStrategy: 'FULL',
          MaxAttempts: expect.any(Number),
        });
        expect(retrier!.BackoffRate).toBeGreaterThan(1);
      }
      if (isLambda) {
        // Throttling is retried sooner than "not ready yet": the buckets refill whoever waits.
        const throttled = retry.find((r) => r.ErrorEquals.includes('Throttled'))!;
        const notReady = retry.find((r) => r.ErrorEquals.includes('IamNotPropagatedYet'))!;
        expect([stateName, throttled.MaxDelaySeconds]).toEqual([stateName, 15]);
        expect(throttled.MaxDelaySeconds!).toBeLessThan(notReady.MaxDelaySeconds!);
      }
      // A task's own permanent errors (InvalidLabInput, LabStepFailed, ...) are never retried.
      expect(retry.flatMap((r) => r.ErrorEquals)).not.toContain('States.ALL');
      // The failure recorders keep the real error beside their own; a class's lab keeps its item.
      const keeps = isFailureRecorder(stateName)
        ? '$.recordError'
        : isMapItem(stateName)
          ? '$.failure'
          : isFailureCleanup(state)
            ? '$.cleanupError'
            : undefined;
      expect([stateName, state.Catch]).toEqual([
        stateName,
        [{ ErrorEquals: ['States.ALL'], Next: expect.any(String), ...(keeps ? { ResultPath: keeps } : {}) }],
      ]);
    }
  });

  it('retries the registry’s own retryable errors on every lab registry task', () => {
    for (const task of lambdaTasks(definition).filter((t) => REGISTRY_TASKS.includes(t.folder!))) {
      const errors = ((task.state.Retry ?? []) as Retrier[]).flatMap((r) => r.ErrorEquals);
      expect([task.name, errors]).toEqual([task.name, expect.arrayContaining(['RegistryConflict'])]);
    }
  });

  it('routes every failure to a state recording the step, then to a Fail with the step in its error', () => {
    const failStates = states.filter(({ state }) => state.Type === 'Fail');
    expect(failStates.length).toBeGreaterThan(0);
    for (const { state } of failStates) {
      expect(state).toMatchObject({ ErrorPath: '$.Error', CausePath: '$.Cause' });
    }
    /** Where a failure goes after its step is named: the Fail, through the registry's record when the workflow keeps one. */
    const endsInFail = (scope: Definition, next: string | undefined): boolean => {
      const state = scope.States[next ?? ''];
      if (state?.Type === 'Fail') return true;
      // A failure cleanup, then the failure it kept put back: on the way to the record.
      if (isFailureCleanup(state) || restoresFailure(state)) return endsInFail(scope, state!.Next as string);
      if (state?.Type !== 'Task' || !isFailureRecorder(next!)) return false;
      const onError = (state.Catch as { Next: string }[])[0]!.Next;
      return scope.States[state.Next as string]?.Type === 'Fail' && state.Next === onError;
    };
    for (const { name: stateName, state, scope } of states.filter(({ state }) => state.Catch)) {
      const catcher = (state.Catch as { Next: string; ResultPath?: string }[])[0]!;
      const target = scope.States[catcher.Next];
      if (isFailureCleanup(state)) {
        // Its own failure never hides the one it cleans up after: on to its record with it.
        expect([stateName, endsInFail(scope, catcher.Next)]).toEqual([stateName, true]);
        continue;
      }
      if (isFailureRecorder(stateName)) {
        // A recording that fails never hides the real error: on to the Fail with it.
        expect([stateName, target?.Type]).toEqual([stateName, 'Fail']);
        continue;
      }
      if (state.Type === 'Parallel') {
        // A branch fails with the step already in its error: passed on unchanged (kept beside the
        // state only on the way to a failure cleanup).
        expect([stateName, endsInFail(scope, catcher.Next)]).toEqual([stateName, true]);
        if (catcher.ResultPath !== undefined) {
          expect([stateName, catcher.ResultPath, isFailureCleanup(target)]).toEqual([
            stateName,
            '$.failure',
            true,
          ]);
        }
        continue;
      }
      expect([stateName, target?.Type]).toEqual([stateName, 'Pass']);
      const recorded = target!.Parameters as Record<string, string>;
      expect(recorded.step).toBe(stateName);
      if (isMapItem(stateName)) {
        // One lab of a class failing does not stop the others: its item ends with the failure.
        expect(recorded['Error.$']).toBe(`States.Format('${stateName} failed: {}', $.failure.Error)`);
        expect(target).toMatchObject({ End: true });
        continue;
      }
      expect(recorded['Error.$']).toBe(`States.Format('${stateName} failed: {}', $.Error)`);
      expect(recorded['Cause.$']).toBe('$.Cause');
      expect([stateName, endsInFail(scope, target!.Next as string)]).toEqual([stateName, true]);
    }
  });

  it('records every failure of a lab workflow in the registry on the way to its Fail, naming the lab from the execution input', () => {
    if (name === 'provision-class') return; // each lab's own execution records it
    const recorder = states.find(({ name: n }) => isFailureRecorder(n));
    expect(recorder?.state).toMatchObject({
      Parameters: {
        FunctionName: '${RecordLabStatusFunctionArn}',
        Payload: {
          // Not `$$.Execution.Input.labId`: a missing path would fail with States.Runtime.
          'input.$': '$$.Execution.Input',
          status: 'failed',
          'executionName.$': '$$.Execution.Name',
          error: { 'Error.$': '$.Error', 'Cause.$': '$.Cause' },
        },
      },
      ResultPath: null,
    });
    // At the top level every way to the Fail passes through it.
    for (const [stateName, state] of Object.entries(definition.States)) {
      if (stateName === recorder!.name) continue;
      const next = [
        state.Next,
        ...((state.Catch as { Next: string }[] | undefined) ?? []).map((c) => c.Next),
      ];
      for (const target of next)
        expect([stateName, definition.States[target as string]?.Type]).not.toEqual([stateName, 'Fail']);
    }
  });

  it('names Lambda tasks after their function folder, each placeholder a task of the contract', () => {
    const folders = contractFolders();
    for (const task of lambdaTasks(definition)) {
      expect([task.functionName, folders.has(task.folder ?? '')]).toEqual([task.functionName, true]);
      // record-lab-status is bookkeeping at several points: "Record <what>".
      if (task.folder === 'record-lab-status') expect(task.name).toMatch(/^Record [a-z]/);
      else expect(task.name).toBe(stepName(task.folder!));
      expect(task.functionName).toBe(`\${${functionArnPlaceholder(task.folder!)}}`);
    }
  });

  it('tells every lab task which lab it works for, so its progress is recorded on the lab', () => {
    for (const task of lambdaTasks(definition)) {
      if (task.folder === 'record-lab-status') continue;
      const payload = (task.state.Parameters as { Payload: Record<string, string> }).Payload;
      const names = payload['labId.$'] ?? payload['lab.$'] ?? payload['input.$'];
      expect([task.name, names]).toEqual([task.name, expect.stringMatching(/^\$(\.lab(\.labId)?)?$/)]);
    }
  });

  it('uses only placeholders that infra fills: a deployed function or an earlier state machine', () => {
    const known = new Set([
      ...LAB_FUNCTIONS.map((fn) => functionArnPlaceholder(fn.name)),
      ...STATE_MACHINES.filter((machine) => machine !== name).map(stateMachineArnPlaceholder),
    ]);
    expect(placeholdersOf(name).filter((placeholder) => !known.has(placeholder))).toEqual([]);
  });

  it('keeps state small: every Lambda result is narrowed by ResultSelector, dropped, or is the output', () => {
    for (const { name: stateName, state } of lambdaTasks(definition)) {
      const narrowed =
        state.ResultSelector !== undefined || state.ResultPath === null || state.OutputPath === '$.Payload';
      expect([stateName, narrowed]).toEqual([stateName, true]);
    }
  });

  it('never passes a secret value between steps: only names, ids and ARNs', () => {
    const text = JSON.stringify(definition);
    for (const secretish of ['KeyMaterial', 'ActivationCode"', 'activationCode"', 'password"', 'Password"']) {
      expect(text).not.toContain(secretish);
    }
  });

  it('polls with a poll task’s own Retry: checks every 5, 7.5, then 10 s, for a bounded time', () => {
    for (const { name: stateName, state } of states.filter(({ state }) => state.Type === 'Task')) {
      const poll = ((state.Retry ?? []) as Retrier[]).find(
        (r) => r.ErrorEquals.includes('NotReadyYet') && r.JitterStrategy === 'NONE',
      );
      if (!poll) continue;
      expect([stateName, poll]).toEqual([
        stateName,
        {
          ErrorEquals: ['NotReadyYet'],
          IntervalSeconds: 5,
          BackoffRate: 1.5,
          MaxDelaySeconds: 10,
          MaxAttempts: expect.any(Number),
          JitterStrategy: 'NONE',
        },
      ]);
      // Between 15 and 35 minutes of checks in all (the tier switch takes minutes, reverting 30).
      const total = 5 + 7.5 + 10 * (poll.MaxAttempts! - 2);
      expect([stateName, total >= 900 && total <= 2100]).toEqual([stateName, true]);
      // It goes on to the next step, not to a loop of its own.
      expect(states.find((s) => s.name === state.Next)?.state.Type).not.toBe('Choice');
    }
  });

  it('loops on poll tasks with a counter: a back-off schedule and a bound that agree', () => {
    for (const { name: choiceName, state, scope } of states.filter(({ state }) => state.Type === 'Choice')) {
      const rules = state.Choices as { Variable: string; NumericGreaterThanEquals?: number; Next: string }[];
      const bound = rules.find((rule) => rule.NumericGreaterThanEquals !== undefined);
      if (!bound) continue;
      const backoff = scope.States[state.Default as string] as State;
      const seconds = (backoff.Parameters as Record<string, string>)['seconds.$']!;
      const schedule = /States\.Array\(([\d, ]+)\)/.exec(seconds)![1]!.split(',').map(Number);
      expect([choiceName, schedule.length]).toEqual([choiceName, bound.NumericGreaterThanEquals]);
      expect(schedule.every((pause) => pause > 0 && pause <= 300)).toBe(true);
      const pause = scope.States[backoff.Next as string] as State;
      expect(pause).toMatchObject({ Type: 'Wait', SecondsPath: expect.stringMatching(/\.seconds$/) });
      // The loop goes back to the poll task that feeds the Choice.
      expect(scope.States[pause.Next as string]).toMatchObject({ Type: 'Task', Next: choiceName });
    }
  });
});

describe('provision-lab', () => {
  const definition = loadAsl('provision-lab');

  it('validates the input first, with the execution name as runId, then records the lab and takes its shared references', () => {
    expect(definition.StartAt).toBe('Validate lab input');
    const validate = definition.States[definition.StartAt]!;
    expect(validate.Parameters).toEqual({
      FunctionName: '${ValidateLabInputFunctionArn}',
      Payload: { 'input.$': '$', 'runId.$': '$$.Execution.Name' },
    });
    expect(validate.Next).toBe('Record provisioning');
    expect(definition.States['Record provisioning']).toMatchObject({
      Parameters: {
        FunctionName: '${RecordLabStatusFunctionArn}',
        Payload: { 'labId.$': '$.lab.labId', status: 'provisioning', 'executionName.$': '$$.Execution.Name' },
      },
      ResultPath: null,
      Next: 'Acquire shared resources',
    });
    expect(definition.States['Acquire shared resources']).toMatchObject({
      Parameters: { FunctionName: '${AcquireSharedResourcesFunctionArn}', Payload: { 'lab.$': '$.lab' } },
      ResultSelector: { 'mustCreate.$': '$.Payload.mustCreate', 'heldSince.$': '$.Payload.heldSince' },
      ResultPath: '$.shared',
      Next: 'Build the lab',
    });
    const retried = (definition.States['Acquire shared resources']!.Retry as Retrier[]).flatMap(
      (r) => r.ErrorEquals,
    );
    expect(retried).toEqual(expect.arrayContaining(['NotReadyYet', 'RegistryConflict']));
    // A lab whose preferences differ from the holders' fails at once, naming the field.
    expect(retried).not.toContain('SharedSettingConflict');
    expect(definition.States['Build the lab']?.Type).toBe('Parallel');
  });

  it('records the lab ready with its report, keeping the report as the output', () => {
    const verified = definition.States['Lab verified?']!;
    expect((verified.Choices as { Next: string }[])[0]!.Next).toBe('Record lab ready');
    expect(definition.States['Record lab ready']).toMatchObject({
      Parameters: {
        Payload: {
          'labId.$': '$.labId',
          status: 'ready',
          'executionName.$': '$$.Execution.Name',
          'report.$': '$',
        },
      },
      ResultPath: null,
      Next: 'Lab ready',
    });
  });

  it('starts the advanced tier at once (its first holder only), beside the hosts, logging and user branches and their verification', () => {
    const build = definition.States['Build the lab']!;
    const starts = (build.Branches as Definition[]).map((branch) => branch.StartAt);
    expect(starts).toEqual(['Advanced tier ours to enable?', 'Build the lab resources']);
    // The lab is verified while the tier may still be switching, not after it: a class started
    // together spreads its verification reads over the tier's minutes. The output is the report.
    const resources = (build.Branches as Definition[])[1]!.States;
    expect(resources['Build the lab resources']!.Next).toBe('Verify lab');
    expect(resources['Verify lab']).toMatchObject({ OutputPath: '$.Payload', End: true });
    expect(build).toMatchObject({ OutputPath: '$[1]', Next: 'Lab verified?' });
    const lab = resources['Build the lab resources']!;
    expect((lab.Branches as Definition[]).map((branch) => branch.StartAt)).toEqual([
      'Create roles, activations, key pair and network',
      'Configure session logging',
    ]);
    // The workshop user starts once the shared roles exist, beside the hosts: its IAM writes do
    // not compete with the roles' first holder across a class started together.
    const hosts = (lab.Branches as Definition[])[0]!.States;
    expect(hosts['Create roles, activations, key pair and network']!.Next).toBe('Hosts and workshop user');
    expect(
      (hosts['Hosts and workshop user']!.Branches as Definition[]).map((branch) => branch.StartAt),
    ).toEqual(['Launch instances', 'Create workshop user']);
    const tier = (build.Branches as Definition[])[0]!.States;
    // Every lab waits for the tier; only the first holder switches it on.
    expect(tier['Advanced tier ours to enable?']).toEqual({
      Type: 'Choice',
      Comment: expect.any(String),
      Choices: [
        { Variable: '$.shared.mustCreate.advancedTier', BooleanEquals: true, Next: 'Enable advanced tier' },
      ],
      Default: 'Wait for advanced tier',
    });
    expect(tier['Enable advanced tier']!.Next).toBe('Wait for advanced tier');
    const setup = (lab.Branches as Definition[])[0]!.States[
      'Create roles, activations, key pair and network'
    ]!;
    expect((setup.Branches as Definition[]).map((branch) => branch.StartAt)).toEqual([
      'Create instance role',
      'Create service role',
      'Create key pair',
      'Create network',
    ]);
  });

  it('deletes the activations and their codes when building the lab fails, keeping the real error', () => {
    expect(definition.States['Build the lab']!.Catch).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'Delete activations' },
    ]);
    expect(definition.States['Delete activations']).toMatchObject({
      Parameters: { FunctionName: '${DeleteActivationsFunctionArn}', Payload: { 'labId.$': '$.lab.labId' } },
      ResultPath: null,
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.cleanupError', Next: 'Build the lab failed' }],
      Next: 'Build the lab failed',
    });
    expect(definition.States['Build the lab failed']).toMatchObject({
      Parameters: { 'Error.$': '$.failure.Error', 'Cause.$': '$.failure.Cause' },
      Next: 'Record provision failure',
    });
  });

  it('runs every provision task of the contract', () => {
    const used = new Set(lambdaTasks(definition).map((task) => task.folder));
    const provisionFolders = LAB_FUNCTIONS.filter((fn) => fn.workflow === 'provision').map((fn) => fn.name);
    expect(provisionFolders.filter((folder) => !used.has(folder))).toEqual([]);
  });
});

describe('teardown-lab', () => {
  it('runs every teardown task of the contract', () => {
    const used = new Set(lambdaTasks(loadAsl('teardown-lab')).map((task) => task.folder));
    const teardownFolders = LAB_FUNCTIONS.filter((fn) => fn.workflow === 'teardown').map((fn) => fn.name);
    expect(teardownFolders.filter((folder) => !used.has(folder))).toEqual([]);
  });

  it('removes in the facts-sheet order, then releases the shared resources, and retries Delete network on NotReadyYet (DependencyViolation)', () => {
    const definition = loadAsl('teardown-lab');
    const order = lambdaTasks(definition).map((task) => task.name);
    expect(order).toEqual([
      'Validate lab input',
      'Record tearing down',
      'Terminate sessions',
      'Delete activations',
      'Deregister nodes',
      'Terminate instances',
      'Delete network',
      'Delete workshop user',
      'Release shared resources',
      'Record lab deleted',
      'Record teardown failure',
    ]);
    expect(definition.States['Release shared resources']).toMatchObject({
      Parameters: { Payload: { 'labId.$': '$.lab.labId', 'executionName.$': '$$.Execution.Name' } },
      ResultPath: '$.shared',
      Next: 'Record lab deleted',
    });
    const released = (definition.States['Release shared resources']!.Retry as Retrier[]).flatMap(
      (r) => r.ErrorEquals,
    );
    expect(released).toEqual(
      expect.arrayContaining(['NotReadyYet', 'RegistryConflict', 'TooManyUpdates', 'Throttled']),
    );
    // labHandler turns every throttling error into Throttled: the SDK's names never reach a retrier.
    expect(released).not.toContain('ThrottlingException');
    const deleteNetwork = definition.States['Delete network']!;
    const retry = (deleteNetwork.Retry as Retrier[]).find((r) => r.ErrorEquals.includes('NotReadyYet'))!;
    expect(retry.MaxAttempts).toBeGreaterThanOrEqual(10);
  });
});

describe('provision-class', () => {
  it('provisions each lab of the class as a provision-lab child under its recorded name, at most maxConcurrency at once', () => {
    const definition = loadAsl('provision-class');
    const map = definition.States[definition.StartAt]!;
    expect(map).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.labs',
      MaxConcurrencyPath: '$.maxConcurrency',
      ItemProcessor: { ProcessorConfig: { Mode: 'INLINE' }, StartAt: 'Provision lab' },
    });
    const item = (map.ItemProcessor as Definition).States['Provision lab']!;
    expect(item).toMatchObject({
      Resource: 'arn:aws:states:::states:startExecution.sync:2',
      Parameters: {
        StateMachineArn: '${ProvisionLabStateMachineArn}',
        'Name.$': '$.executionName',
        'Input.$': '$.input',
      },
    });
  });
});

describe('reset-lab', () => {
  it('runs teardown then provision as child executions named after the parent', () => {
    const definition = loadAsl('reset-lab');
    const teardown = definition.States[definition.StartAt]!;
    expect(teardown).toMatchObject({
      Resource: 'arn:aws:states:::states:startExecution.sync:2',
      Parameters: {
        StateMachineArn: '${TeardownLabStateMachineArn}',
        'Name.$': "States.Format('{}-teardown', $$.Execution.Name)",
      },
      Next: 'Provision lab',
    });
    expect(definition.States['Provision lab']).toMatchObject({
      Resource: 'arn:aws:states:::states:startExecution.sync:2',
      Parameters: {
        StateMachineArn: '${ProvisionLabStateMachineArn}',
        'Name.$': "States.Format('{}-provision', $$.Execution.Name)",
      },
      OutputPath: '$.Output',
    });
  });
});
