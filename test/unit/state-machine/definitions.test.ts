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
        ? [LAMBDA_TRANSIENT, [...RETRYABLE_ERRORS]]
        : [['StepFunctions.ExecutionLimitExceeded']];
      for (const errors of wanted) {
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
      // A task's own permanent errors (InvalidLabInput, LabStepFailed, ...) are never retried.
      expect(retry.flatMap((r) => r.ErrorEquals)).not.toContain('States.ALL');
      expect(state.Catch).toEqual([{ ErrorEquals: ['States.ALL'], Next: expect.any(String) }]);
    }
  });

  it('routes every failure to a state recording the step, then to a Fail with the step in its error', () => {
    const failStates = states.filter(({ state }) => state.Type === 'Fail');
    expect(failStates.length).toBeGreaterThan(0);
    for (const { state } of failStates) {
      expect(state).toMatchObject({ ErrorPath: '$.Error', CausePath: '$.Cause' });
    }
    for (const { name: stateName, state, scope } of states.filter(({ state }) => state.Catch)) {
      const catcher = (state.Catch as { Next: string }[])[0]!;
      const target = scope.States[catcher.Next];
      if (state.Type === 'Parallel') {
        // A branch fails with the step already in its error: passed on unchanged.
        expect([stateName, target?.Type]).toEqual([stateName, 'Fail']);
        continue;
      }
      expect([stateName, target?.Type]).toEqual([stateName, 'Pass']);
      const recorded = target!.Parameters as Record<string, string>;
      expect(recorded.step).toBe(stateName);
      expect(recorded['Error.$']).toBe(`States.Format('${stateName} failed: {}', $.Error)`);
      expect(recorded['Cause.$']).toBe('$.Cause');
      expect(scope.States[target!.Next as string]?.Type).toBe('Fail');
    }
  });

  it('names Lambda tasks after their function folder, each placeholder a task of the contract', () => {
    const folders = contractFolders();
    for (const task of lambdaTasks(definition)) {
      expect([task.functionName, folders.has(task.folder ?? '')]).toEqual([task.functionName, true]);
      expect(task.name).toBe(stepName(task.folder!));
      expect(task.functionName).toBe(`\${${functionArnPlaceholder(task.folder!)}}`);
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

  it('validates the input first, with the execution name as runId', () => {
    expect(definition.StartAt).toBe('Validate lab input');
    const validate = definition.States[definition.StartAt]!;
    expect(validate.Parameters).toEqual({
      FunctionName: '${ValidateLabInputFunctionArn}',
      Payload: { 'input.$': '$', 'runId.$': '$$.Execution.Name' },
    });
    expect(definition.States[validate.Next as string]?.Type).toBe('Parallel');
  });

  it('starts the advanced tier at once, beside the hosts, logging and user branches', () => {
    const build = definition.States['Build the lab']!;
    const starts = (build.Branches as Definition[]).map((branch) => branch.StartAt);
    expect(starts).toEqual([
      'Enable advanced tier',
      'Create roles, activations, key pair and network',
      'Configure session logging',
      'Create workshop user',
    ]);
    const setup = (build.Branches as Definition[])[1]!.States[
      'Create roles, activations, key pair and network'
    ]!;
    expect((setup.Branches as Definition[]).map((branch) => branch.StartAt)).toEqual([
      'Create instance role',
      'Create service role',
      'Create key pair',
      'Create network',
    ]);
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

  it('removes in the facts-sheet order and retries Delete network on NotReadyYet (DependencyViolation)', () => {
    const definition = loadAsl('teardown-lab');
    const order = lambdaTasks(definition).map((task) => task.name);
    expect(order).toEqual([
      'Validate lab input',
      'Terminate sessions',
      'Deregister nodes',
      'Delete activations',
      'Terminate instances',
      'Delete network',
      'Delete workshop user',
    ]);
    const deleteNetwork = definition.States['Delete network']!;
    const retry = (deleteNetwork.Retry as Retrier[]).find((r) => r.ErrorEquals.includes('NotReadyYet'))!;
    expect(retry.MaxAttempts).toBeGreaterThanOrEqual(10);
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
