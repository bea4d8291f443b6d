import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import {
  outcomeToStatus,
  recordFromEvent,
  recordLabStatus,
  workflowOfArn,
} from '../../../functions/record-lab-status/task.js';
import { inputsOf } from '../../helpers/aws-mock.js';
import { NOW, NOW_SECONDS, labItem, labRecord, testRegistry } from '../../helpers/registry.js';

const doc = mockClient(DynamoDBDocumentClient);

beforeEach(() => {
  doc.reset();
  doc.on(UpdateCommand).callsFake(async (input) => ({
    Attributes: labItem(
      labRecord({ status: Object.values(input.ExpressionAttributeValues ?? {})[0] as never }),
    ),
  }));
});

const deps = () => ({ registry: testRegistry(), clock: () => NOW });
const RUN = 'demo-g1-provision-20300101000000-abcd';
/** The SET clauses of the one update, as {field: value}, and the removed fields. */
function written() {
  const [update] = inputsOf(doc, UpdateCommand);
  const names = update!.ExpressionAttributeNames!;
  const values = update!.ExpressionAttributeValues!;
  const [set, remove = ''] = update!.UpdateExpression!.replace(/^SET /, '').split(' REMOVE ');
  const fields: Record<string, unknown> = {};
  for (const clause of set!.split(', ')) {
    const [name, value] = clause.split(' = ');
    if (value!.startsWith(':')) fields[names[name!]!] = values[value!];
  }
  return {
    fields,
    removed: remove
      .split(', ')
      .filter(Boolean)
      .map((n) => names[n]),
  };
}

describe('recordLabStatus', () => {
  it('marks the lab ready with its report (secret-named fields dropped), clearing any error', async () => {
    doc.on(GetCommand).resolves({ Item: labItem(labRecord({ status: 'provisioning', version: 7 })) });
    const report = {
      labId: 'demo',
      user: { userName: 'u', passwordSecretArn: 'arn:s', password: 'x' },
      ok: true,
    };
    await expect(
      recordLabStatus({ labId: 'demo', status: 'ready', executionName: RUN, report }, deps()),
    ).resolves.toMatchObject({ recorded: true });
    const { fields, removed } = written();
    expect(fields).toMatchObject({
      status: 'ready',
      report: { labId: 'demo', user: { userName: 'u', passwordSecretArn: 'arn:s' }, ok: true },
    });
    expect(removed).toEqual(expect.arrayContaining(['error', 'currentStep']));
    expect(inputsOf(doc, UpdateCommand)[0]!.ConditionExpression).toMatch(/^#version = :v\d+$/);
  });

  it('records the failed step and reason as the Catch path passes them', async () => {
    doc.on(GetCommand).resolves({ Item: labItem(labRecord({ status: 'provisioning' })) });
    await recordLabStatus(
      {
        labId: 'demo',
        status: 'failed',
        executionName: RUN,
        error: {
          step: 'Launch instances',
          Error: 'Launch instances failed: InsufficientInstanceCapacity',
          Cause: 'x'.repeat(5000),
        },
      },
      deps(),
    );
    const { error } = written().fields as { error: { step: string; error: string; cause: string } };
    expect(error).toMatchObject({
      step: 'Launch instances',
      error: 'Launch instances failed: InsufficientInstanceCapacity',
    });
    expect(error.cause.length).toBeLessThanOrEqual(1024);
  });

  it('takes the lab id from the execution input and the step from the error, as the failure paths pass them', async () => {
    doc.on(GetCommand).resolves({ Item: labItem(labRecord({ status: 'provisioning' })) });
    await expect(
      recordFromEvent(
        {
          input: { labId: 'demo', policyMode: 'seed' },
          status: 'failed',
          executionName: RUN,
          error: { Error: 'Register agents failed: LabStepFailed', Cause: 'exit 1 on ProdOnPrem' },
        },
        deps(),
      ),
    ).resolves.toMatchObject({ labId: 'demo', recorded: true });
    expect(written().fields.error).toEqual({
      step: 'Register agents',
      error: 'Register agents failed: LabStepFailed',
      cause: 'exit 1 on ProdOnPrem',
    });
  });

  it('refuses a failure record whose execution input names no lab, naming labId (the workflow still fails with its own error)', async () => {
    await expect(
      recordFromEvent(
        { input: { policyMode: 'strict' }, status: 'failed', executionName: RUN, error: { Error: 'x' } },
        deps(),
      ),
    ).rejects.toMatchObject({ name: 'InvalidLabInput', field: 'labId' });
    expect(doc.calls()).toHaveLength(0);
  });

  it('keeps the first failure of a run: a reset parent’s or the status-change rule’s later report adds nothing', async () => {
    const failure = { step: 'Register agents', error: 'Register agents failed: LabStepFailed' };
    doc.on(GetCommand).resolves({
      Item: labItem(
        labRecord({ status: 'failed', workflow: 'reset-lab', executionName: 'r', error: failure }),
      ),
    });
    await expect(
      recordLabStatus(
        {
          labId: 'demo',
          status: 'failed',
          executionName: 'r',
          error: { Error: 'Provision lab failed: States.TaskFailed', Cause: '{}' },
        },
        deps(),
      ),
    ).resolves.toMatchObject({ recorded: false, reason: 'failure already recorded' });
    expect(doc.commandCalls(UpdateCommand)).toHaveLength(0);
  });

  it('marks a torn-down lab deleted: no report, no more resets, the record purged a week later', async () => {
    doc.on(GetCommand).resolves({
      Item: labItem(
        labRecord({
          status: 'tearing-down',
          workflow: 'teardown-lab',
          executionName: 'demo-td',
          nightlyReset: true,
        }),
      ),
    });
    await recordLabStatus({ labId: 'demo', status: 'deleted', executionName: 'demo-td' }, deps());
    const { fields, removed } = written();
    expect(fields).toMatchObject({
      status: 'deleted',
      nightlyReset: false,
      expiresAt: NOW_SECONDS + 7 * 86400,
    });
    expect(removed).toEqual(expect.arrayContaining(['report', 'resetAt', 'currentStep']));
  });

  it("ignores the end of a run that is not the lab's current one", async () => {
    doc
      .on(GetCommand)
      .resolves({ Item: labItem(labRecord({ status: 'provisioning', executionName: 'newer' })) });
    await expect(
      recordLabStatus({ labId: 'demo', status: 'failed', executionName: 'older' }, deps()),
    ).resolves.toMatchObject({ recorded: false, reason: expect.stringMatching(/^stale/) });
    expect(doc.commandCalls(UpdateCommand)).toHaveLength(0);
  });

  it("keeps a reset going through its teardown's end, and ends it with its provision's", async () => {
    doc.on(GetCommand).resolves({
      Item: labItem(labRecord({ status: 'provisioning', workflow: 'reset-lab', executionName: 'r' })),
    });
    await expect(
      recordLabStatus({ labId: 'demo', status: 'deleted', executionName: 'r-teardown' }, deps()),
    ).resolves.toMatchObject({ recorded: false, reason: 'reset continues' });
    await expect(
      recordLabStatus({ labId: 'demo', status: 'tearing-down', executionName: 'r-teardown' }, deps()),
    ).resolves.toMatchObject({ recorded: false });
    await expect(
      recordLabStatus({ labId: 'demo', status: 'ready', executionName: 'r-provision', report: {} }, deps()),
    ).resolves.toMatchObject({ recorded: true });
  });

  it('adopts a run started outside the API (the console) when it starts', async () => {
    doc.on(GetCommand).resolves({ Item: labItem(labRecord({ status: 'ready', generation: 2 })) });
    await recordLabStatus({ labId: 'demo', status: 'provisioning', executionName: 'console-run' }, deps());
    expect(written().fields).toMatchObject({
      status: 'provisioning',
      executionName: 'console-run',
      workflow: 'provision-lab',
      generation: 3,
      steps: {},
    });
  });

  it('registers a lab it has never seen when its provisioning starts', async () => {
    doc.on(GetCommand).resolves({});
    doc.on(PutCommand).resolves({});
    await expect(
      recordLabStatus({ labId: 'fresh', status: 'provisioning', executionName: 'console-run' }, deps()),
    ).resolves.toEqual({ labId: 'fresh', status: 'provisioning', recorded: true, generation: 1 });
    expect(inputsOf(doc, PutCommand)[0]!.Item).toMatchObject({
      pk: 'lab#fresh',
      status: 'provisioning',
      executionName: 'console-run',
    });
    await expect(recordLabStatus({ labId: 'fresh', status: 'ready' }, deps())).resolves.toMatchObject({
      status: 'unregistered',
      recorded: false,
    });
  });

  it('records nothing without a registry', async () => {
    await expect(recordLabStatus({ labId: 'demo', status: 'ready' }, {})).resolves.toMatchObject({
      recorded: false,
      status: 'unregistered',
    });
  });
});

describe('execution outcomes', () => {
  it('names the failed step from the error the workflows raise', () => {
    expect(
      outcomeToStatus({
        workflow: 'provision-lab',
        executionName: 'r1',
        status: 'FAILED',
        input: { labId: 'demo' },
        error: 'Wait for registration failed: TimedOut',
        cause: 'still pending',
      }),
    ).toEqual({
      labId: 'demo',
      executionName: 'r1',
      status: 'failed',
      error: {
        step: 'Wait for registration',
        error: 'Wait for registration failed: TimedOut',
        cause: 'still pending',
      },
    });
    expect(
      outcomeToStatus({
        workflow: 'teardown-lab',
        executionName: 't',
        status: 'ABORTED',
        input: { labId: 'demo' },
      }),
    ).toMatchObject({ status: 'failed', error: { step: 'teardown-lab', error: 'ABORTED' } });
  });

  it('turns a success into ready with the report (a reset’s is its provision child’s) or deleted', () => {
    const report = { labId: 'demo', accessMatrix: [] };
    expect(
      outcomeToStatus({
        workflow: 'reset-lab',
        executionName: 'r',
        status: 'SUCCEEDED',
        input: { labId: 'demo' },
        output: { Output: JSON.stringify(report) },
      }),
    ).toMatchObject({ status: 'ready', report });
    expect(
      outcomeToStatus({
        workflow: 'teardown-lab',
        executionName: 't',
        status: 'SUCCEEDED',
        input: { labId: 'demo' },
      }),
    ).toMatchObject({ status: 'deleted' });
    expect(
      outcomeToStatus({ workflow: 'provision-lab', executionName: 'x', status: 'SUCCEEDED', input: {} }),
    ).toBeUndefined();
  });

  it('reads the EventBridge status-change event of a lab workflow', async () => {
    doc
      .on(GetCommand)
      .resolves({ Item: labItem(labRecord({ status: 'provisioning', executionName: 'r1' })) });
    const event = {
      'detail-type': 'Step Functions Execution Status Change',
      source: 'aws.states',
      detail: {
        name: 'r1',
        stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:ProvisionLabStateMachine-Ab12',
        status: 'TIMED_OUT',
        input: '{"labId":"demo"}',
        output: null,
      },
    };
    await expect(recordFromEvent(event, deps())).resolves.toMatchObject({ recorded: true });
    expect(written().fields).toMatchObject({ status: 'failed', error: { error: 'TIMED_OUT' } });
    await expect(
      recordFromEvent({ ...event, detail: { ...event.detail, status: 'RUNNING' } }, deps()),
    ).resolves.toMatchObject({
      recorded: false,
    });
  });

  it('knows the workflow from the state machine name', () => {
    expect(workflowOfArn('arn:aws:states:us-east-1:1:stateMachine:session-lab-teardown-lab')).toBe(
      'teardown-lab',
    );
    expect(workflowOfArn('arn:aws:states:us-east-1:1:stateMachine:ResetLab12AB')).toBe('reset-lab');
    expect(workflowOfArn('arn:aws:states:us-east-1:1:stateMachine:other')).toBeUndefined();
  });

  it('refuses a malformed direct call naming the field', async () => {
    await expect(recordFromEvent({ labId: 'demo', status: 'done' }, deps())).rejects.toMatchObject({
      name: 'InvalidLabInput',
      field: 'status',
    });
  });
});
