import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { z } from 'zod';
import { resetClients } from '../../../functions/shared/clients.js';
import { NotReadyYet } from '../../../functions/shared/errors.js';
import { labHandler } from '../../../functions/shared/handler.js';
import { labConfigSchema } from '../../../functions/shared/lab-config.js';
import { labOfEvent, runIdsOf, stepNameOfFunction } from '../../../functions/shared/registry-progress.js';
import { awsError, inputsOf } from '../../helpers/aws-mock.js';
import { conditionFailed, labItem, labRecord } from '../../helpers/registry.js';

const doc = mockClient(DynamoDBDocumentClient);
const events = mockClient(EventBridgeClient);

const context = {
  functionName: 'session-lab-create-key-pair',
  awsRequestId: 'req-1',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:session-lab-create-key-pair',
  memoryLimitInMB: '128',
  functionVersion: '$LATEST',
  getRemainingTimeInMillis: () => 1000,
} as unknown as Context;

const saved = { ...process.env };
beforeEach(() => {
  doc.reset();
  events.reset();
  process.env = { ...saved, AWS_REGION: 'us-east-1', REGISTRY_TABLE: 'labs' };
  delete process.env.EVENT_BUS_NAME;
  delete process.env.STEP_NAME;
  resetClients();
  doc.on(UpdateCommand).resolves({ Attributes: labItem(labRecord({ generation: 4 })) });
  events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e1' }] });
});
afterAll(() => {
  process.env = saved;
  resetClients();
});

const schema = z.object({ lab: labConfigSchema }).strict();
const lab = labConfigSchema.parse({ labId: 'demo', runId: 'demo-g4-provision-1' });

/** The step objects written, in order. */
const stepsWritten = () =>
  inputsOf(doc, UpdateCommand).map((input) =>
    Object.values(input.ExpressionAttributeValues!).find(
      (value): value is Record<string, unknown> => !!value && typeof value === 'object' && 'status' in value,
    ),
  );
const eventDetails = () =>
  inputsOf(events, PutEventsCommand).map((input) => ({
    ...input.Entries![0],
    Detail: JSON.parse(input.Entries![0]!.Detail!),
  }));

describe('registry progress in labHandler', () => {
  it('starts the task without waiting for the start record, and writes the end only after it', async () => {
    let releaseStart!: () => void;
    const order: string[] = [];
    doc.on(UpdateCommand).callsFakeOnce(async () => {
      await new Promise<void>((resolve) => (releaseStart = resolve));
      order.push('start recorded');
      return { Attributes: labItem(labRecord({ generation: 4 })) };
    });
    const handler = labHandler(schema, async () => {
      order.push('task ran');
      releaseStart(); // the start record lands only now, while the task is running
      return { keyName: 'MyKeyPair-demo', privateKeyParameter: '/p' };
    });
    await handler({ lab }, context);
    expect(order).toEqual(['task ran', 'start recorded']);
    expect(stepsWritten().map((step) => step?.status)).toEqual(['running', 'succeeded']);
  });

  it('records the start and the end of a step and publishes each change', async () => {
    const handler = labHandler(schema, async () => ({
      keyName: 'MyKeyPair-demo',
      privateKeyParameter: '/p',
    }));
    await handler({ lab }, context);
    expect(stepsWritten()).toEqual([
      { name: 'Create key pair', status: 'running', startedAt: expect.any(String) },
      {
        name: 'Create key pair',
        status: 'succeeded',
        startedAt: expect.any(String),
        endedAt: expect.any(String),
      },
    ]);
    const [start, end] = inputsOf(doc, UpdateCommand);
    expect(start!.Key).toEqual({ pk: 'lab#demo' });
    // Only the lab's current run (or its reset parent) may write.
    expect(Object.values(start!.ExpressionAttributeValues!)).toEqual(
      expect.arrayContaining(['demo-g4-provision-1']),
    );
    // The ledger entry of the step: names and ids from the output.
    expect(Object.values(end!.ExpressionAttributeValues!)).toEqual(
      expect.arrayContaining([{ keyName: 'MyKeyPair-demo', privateKeyParameter: '/p' }]),
    );
    expect(eventDetails()).toEqual([
      {
        Source: 'session-lab',
        DetailType: 'Lab Step Changed',
        Detail: { labId: 'demo', step: 'Create key pair', status: 'running', generation: 4 },
      },
      {
        Source: 'session-lab',
        DetailType: 'Lab Step Changed',
        Detail: { labId: 'demo', step: 'Create key pair', status: 'succeeded', generation: 4 },
      },
    ]);
  });

  it('marks a poll that answers "not yet" as waiting, and uses STEP_NAME and EVENT_BUS_NAME when set', async () => {
    process.env.STEP_NAME = 'Wait for instances';
    process.env.EVENT_BUS_NAME = 'labs-bus';
    const handler = labHandler(z.object({ labId: z.string() }), async () => ({
      ready: false,
      pending: ['x'],
    }));
    await handler({ labId: 'demo' }, context);
    expect(stepsWritten().map((s) => [s!.name, s!.status])).toEqual([
      ['Wait for instances', 'running'],
      ['Wait for instances', 'waiting'],
    ]);
    expect(eventDetails()[1]).toMatchObject({ EventBusName: 'labs-bus', Detail: { status: 'waiting' } });
  });

  it('records a failure with its name and message (retrying for the retryable ones) and rethrows it', async () => {
    const failing = labHandler(schema, async () => {
      throw new Error('boom');
    });
    await expect(failing({ lab }, context)).rejects.toThrow('boom');
    const retrying = labHandler(schema, async () => {
      throw new NotReadyYet('not yet');
    });
    await expect(retrying({ lab }, context)).rejects.toMatchObject({ name: 'NotReadyYet' });
    expect(stepsWritten().map((s) => [s!.status, s!.error])).toEqual([
      ['running', undefined],
      ['failed', { error: 'Error', cause: 'boom' }],
      ['running', undefined],
      ['retrying', { error: 'NotReadyYet', cause: 'not yet' }],
    ]);
  });

  it('records a refused input as the failure of the step, before the task runs', async () => {
    const handler = labHandler(schema, async () => 'never');
    await expect(handler({ lab, extra: 1 }, context)).rejects.toMatchObject({ name: 'InvalidLabInput' });
    expect(stepsWritten().map((s) => s!.status)).toEqual(['running', 'failed']);
  });

  it('stays silent for a lab the registry does not have (or not in this run): no event', async () => {
    doc.on(UpdateCommand).rejects(conditionFailed());
    const handler = labHandler(schema, async () => ({ ok: true }));
    await expect(handler({ lab }, context)).resolves.toEqual({ ok: true });
    expect(events.commandCalls(PutEventsCommand)).toHaveLength(0);
  });

  it('never fails the task because the registry or the bus is unavailable', async () => {
    doc.on(UpdateCommand).rejects(awsError('ProvisionedThroughputExceededException'));
    const handler = labHandler(schema, async () => ({ ok: true }));
    await expect(handler({ lab }, context)).resolves.toEqual({ ok: true });
    doc.on(UpdateCommand).resolves({ Attributes: labItem(labRecord()) });
    events.on(PutEventsCommand).rejects(awsError('ThrottlingException'));
    await expect(handler({ lab }, context)).resolves.toEqual({ ok: true });
  });

  it('does nothing without REGISTRY_TABLE, for events that name no lab, or when a task opts out', async () => {
    const handler = () => labHandler(z.object({}).loose(), async () => ({ ok: true }));
    delete process.env.REGISTRY_TABLE;
    await handler()({ lab }, context);
    process.env.REGISTRY_TABLE = 'labs';
    await handler()({}, context);
    await labHandler(schema, async () => 1, { progress: false })({ lab }, context);
    expect(doc.calls()).toHaveLength(0);
    expect(events.calls()).toHaveLength(0);
  });

  it('fails loudly on a malformed REGISTRY_TABLE, naming it', async () => {
    process.env.REGISTRY_TABLE = 'no spaces allowed';
    const handler = labHandler(schema, async () => 1);
    await expect(handler({ lab }, context)).rejects.toMatchObject({
      name: 'ConfigurationError',
      variable: 'REGISTRY_TABLE',
    });
  });

  it('reads its environment once, at the first invocation, as a Lambda container keeps it', async () => {
    const handler = labHandler(schema, async () => ({ ok: true }));
    await handler({ lab }, context);
    expect(doc.commandCalls(UpdateCommand)).toHaveLength(2);
    delete process.env.REGISTRY_TABLE;
    process.env.STEP_NAME = 'Renamed';
    await handler({ lab }, context);
    expect(stepsWritten().map((step) => step?.name)).toEqual(Array(4).fill('Create key pair'));
  });
});

describe('progress helpers', () => {
  it('names a step as the state machines do', () => {
    expect(stepNameOfFunction('session-lab-create-key-pair')).toBe('Create key pair');
    expect(stepNameOfFunction('wait-for-advanced-tier')).toBe('Wait for advanced tier');
  });

  it('finds the lab in each event shape the tasks receive', () => {
    expect(labOfEvent({ labId: 'demo' })).toEqual({ labId: 'demo' });
    expect(labOfEvent({ lab: { labId: 'demo', runId: 'r1' } })).toEqual({ labId: 'demo', runId: 'r1' });
    expect(labOfEvent({ input: { labId: 'demo' }, runId: 'r1' })).toEqual({ labId: 'demo', runId: 'r1' });
    // Tasks on an account-wide resource get the lab id and run at the top.
    expect(labOfEvent({ labId: 'demo', runId: 'r2' })).toEqual({ labId: 'demo', runId: 'r2' });
    expect(labOfEvent({ labId: 'NOT A LAB' })).toBeUndefined();
    expect(labOfEvent(null)).toBeUndefined();
  });

  it('lets a reset’s children write on the reset’s record, and nobody else', () => {
    expect(runIdsOf('demo-g2-reset-20300101000000-ab12-provision')).toEqual([
      'demo-g2-reset-20300101000000-ab12-provision',
      'demo-g2-reset-20300101000000-ab12',
    ]);
    expect(runIdsOf('demo-g2-reset-20300101000000-ab12-teardown')).toEqual([
      'demo-g2-reset-20300101000000-ab12-teardown',
      'demo-g2-reset-20300101000000-ab12',
    ]);
    expect(runIdsOf('demo-g1-provision-20300101000000-ab12')).toEqual([
      'demo-g1-provision-20300101000000-ab12',
    ]);
  });
});
