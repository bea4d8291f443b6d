import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient, GetCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { deleteLabRoute } from '../../../functions/api/delete-lab/route.js';
import { getLabRoute } from '../../../functions/api/get-lab/route.js';
import { encodePageToken, listLabsRoute } from '../../../functions/api/list-labs/route.js';
import { resetLabRoute } from '../../../functions/api/reset-lab/route.js';
import { respond, type ApiRoute } from '../../../functions/shared/api.js';
import { SfnWorkflowStarter } from '../../../functions/shared/workflow-starter.js';
import { inputsOf } from '../../helpers/aws-mock.js';
import { apiEvent, labItem, labRecord, replyOf, testApiDeps, testRegistry } from '../../helpers/registry.js';

const doc = mockClient(DynamoDBDocumentClient);
const sfn = mockClient(SFNClient);
const ARNS = {
  TEARDOWN_LAB_STATE_MACHINE_ARN:
    'arn:aws:states:us-east-1:123456789012:stateMachine:session-lab-teardown-lab',
  RESET_LAB_STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:123456789012:stateMachine:session-lab-reset-lab',
};

const call = (route: ApiRoute, request: Parameters<typeof apiEvent>[0]) =>
  respond(
    route,
    apiEvent(request),
    testApiDeps(testRegistry(), new SfnWorkflowStarter(new SFNClient({ region: 'us-east-1' }), ARNS)),
  ).then(replyOf);
const onLab = (
  method: string,
  resource: string,
  labId: string,
  extra: Partial<Parameters<typeof apiEvent>[0]> = {},
) => ({
  method,
  resource,
  path: resource.replace('{labId}', labId),
  pathParameters: { labId },
  ...extra,
});

/** Updates succeed and answer the record with the changes applied. */
function acceptUpdates(base: ReturnType<typeof labRecord>) {
  doc.on(UpdateCommand).callsFake(async (input) => {
    const names = input.ExpressionAttributeNames as Record<string, string>;
    const values = input.ExpressionAttributeValues as Record<string, unknown>;
    const lab = { ...base } as Record<string, unknown>;
    const [set] = String(input.UpdateExpression).replace(/^SET /, '').split(' REMOVE ');
    for (const clause of set!.split(', ')) {
      const [name, value] = clause.split(' = ');
      if (value!.startsWith(':')) lab[names[name!]!] = values[value!];
    }
    return { Attributes: labItem(lab as never) };
  });
}

beforeEach(() => {
  doc.reset();
  sfn.reset();
  sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:exec' });
});

describe('GET /labs/{labId}', () => {
  it('answers status, steps in the order they started, the report (no secrets) and the resources', async () => {
    doc.on(GetCommand).resolves({
      Item: labItem(
        labRecord({
          steps: {
            'Verify lab': { name: 'Verify lab', status: 'succeeded', startedAt: '2030-01-01T00:09:00.000Z' },
            'Create key pair': {
              name: 'Create key pair',
              status: 'succeeded',
              startedAt: '2030-01-01T00:01:00.000Z',
            },
          },
          report: { labId: 'demo', user: { userName: 'u', passwordSecretArn: 'arn:s', password: 'leak' } },
          ledger: { 'Create key pair': { keyName: 'MyKeyPair-demo' } },
        }),
      ),
    });
    const reply = await call(getLabRoute, onLab('GET', '/labs/{labId}', 'demo'));
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({
      labId: 'demo',
      status: 'ready',
      generation: 1,
      steps: [{ name: 'Create key pair' }, { name: 'Verify lab' }],
      report: { labId: 'demo', user: { userName: 'u', passwordSecretArn: 'arn:s' } },
      resources: { 'Create key pair': { keyName: 'MyKeyPair-demo' } },
      expiresAt: '2030-01-01T01:00:00.000Z',
    });
    expect(JSON.stringify(reply.body)).not.toContain('leak');
  });

  it('answers 404 for an unknown lab and 400 naming labId for a malformed one', async () => {
    doc.on(GetCommand).resolves({});
    await expect(call(getLabRoute, onLab('GET', '/labs/{labId}', 'nobody'))).resolves.toEqual({
      status: 404,
      body: { code: 'LabNotFound', message: 'no lab nobody' },
    });
    await expect(call(getLabRoute, onLab('GET', '/labs/{labId}', 'UPPER'))).resolves.toMatchObject({
      status: 400,
      body: { field: 'labId' },
    });
  });
});

describe('GET /labs', () => {
  it('lists a page with a token for the next one, filtered as asked', async () => {
    doc.on(ScanCommand).resolves({
      Items: [labItem(labRecord({ labId: 'lab-a', owner: 'alice' }))],
      LastEvaluatedKey: { pk: 'lab#lab-a' },
    });
    const reply = await call(listLabsRoute, {
      method: 'GET',
      resource: '/labs',
      query: { owner: 'alice', limit: '1' },
    });
    expect(reply).toEqual({
      status: 200,
      body: {
        labs: [expect.objectContaining({ labId: 'lab-a', status: 'ready', owner: 'alice' })],
        nextToken: encodePageToken({ pk: 'lab#lab-a' }),
      },
    });
    const next = await call(listLabsRoute, {
      method: 'GET',
      resource: '/labs',
      query: { nextToken: String(reply.body.nextToken) },
    });
    expect(next.status).toBe(200);
    expect(inputsOf(doc, ScanCommand)[1]!.ExclusiveStartKey).toEqual({ pk: 'lab#lab-a' });
  });

  it.each([
    [{ status: 'sleeping' }, 'status'],
    [{ limit: '0' }, 'limit'],
    [{ limit: '1000' }, 'limit'],
    [{ limit: 'ten' }, 'limit'],
    [{ color: 'red' }, 'color'],
    [{ nextToken: 'bm90IGEga2V5' }, 'nextToken'],
    [{ nextToken: encodePageToken({ pk: 'shared#advanced-tier' }) }, 'nextToken'],
  ])('refuses the query %j with a 400 naming %s', async (query, field) => {
    await expect(call(listLabsRoute, { method: 'GET', resource: '/labs', query })).resolves.toMatchObject({
      status: 400,
      body: { code: 'InvalidRequest', field },
    });
    expect(doc.calls()).toHaveLength(0);
  });
});

describe('POST /labs/{labId}/reset', () => {
  it('starts a reset as a new generation with the lab’s options and answers 202', async () => {
    const lab = labRecord({ generation: 2, options: { labId: 'demo', policyMode: 'seed' } });
    doc.on(GetCommand).resolves({ Item: labItem(lab) });
    acceptUpdates(lab);
    const reply = await call(resetLabRoute, onLab('POST', '/labs/{labId}/reset', 'demo'));
    expect(reply).toEqual({ status: 202, body: { labId: 'demo', status: 'provisioning', generation: 3 } });
    const [start] = inputsOf(sfn, StartExecutionCommand);
    expect(start).toMatchObject({
      stateMachineArn: ARNS.RESET_LAB_STATE_MACHINE_ARN,
      input: '{"labId":"demo","policyMode":"seed"}',
    });
    expect(start!.name).toMatch(/^demo-g3-reset-/);
  });

  it('answers 202 again while that reset runs, 409 for a lab busy with something else, 404 for none', async () => {
    doc
      .on(GetCommand)
      .resolves({ Item: labItem(labRecord({ status: 'provisioning', workflow: 'reset-lab' })) });
    await expect(call(resetLabRoute, onLab('POST', '/labs/{labId}/reset', 'demo'))).resolves.toMatchObject({
      status: 202,
    });
    doc
      .on(GetCommand)
      .resolves({ Item: labItem(labRecord({ status: 'tearing-down', workflow: 'teardown-lab' })) });
    await expect(call(resetLabRoute, onLab('POST', '/labs/{labId}/reset', 'demo'))).resolves.toMatchObject({
      status: 409,
      body: { code: 'LabBusy' },
    });
    doc.on(GetCommand).resolves({});
    await expect(call(resetLabRoute, onLab('POST', '/labs/{labId}/reset', 'demo'))).resolves.toMatchObject({
      status: 404,
    });
  });

  it('refuses a body with fields, naming them', async () => {
    await expect(
      call(resetLabRoute, onLab('POST', '/labs/{labId}/reset', 'demo', { body: { policyMode: 'seed' } })),
    ).resolves.toMatchObject({ status: 400, body: { field: 'policyMode' } });
  });
});

describe('DELETE /labs/{labId}', () => {
  it('starts the teardown with the lab id and answers 202 tearing-down', async () => {
    const lab = labRecord();
    doc.on(GetCommand).resolves({ Item: labItem(lab) });
    acceptUpdates(lab);
    await expect(call(deleteLabRoute, onLab('DELETE', '/labs/{labId}', 'demo'))).resolves.toEqual({
      status: 202,
      body: { labId: 'demo', status: 'tearing-down' },
    });
    expect(inputsOf(sfn, StartExecutionCommand)[0]).toMatchObject({
      stateMachineArn: ARNS.TEARDOWN_LAB_STATE_MACHINE_ARN,
      input: '{"labId":"demo"}',
      name: expect.stringMatching(/^demo-g1-teardown-/),
    });
  });

  it('is idempotent: tearing down or deleted answers 202 with the status; provisioning is a 409', async () => {
    doc.on(GetCommand).resolves({ Item: labItem(labRecord({ status: 'deleted' })) });
    await expect(call(deleteLabRoute, onLab('DELETE', '/labs/{labId}', 'demo'))).resolves.toEqual({
      status: 202,
      body: { labId: 'demo', status: 'deleted' },
    });
    doc
      .on(GetCommand)
      .resolves({ Item: labItem(labRecord({ status: 'tearing-down', workflow: 'teardown-lab' })) });
    await expect(call(deleteLabRoute, onLab('DELETE', '/labs/{labId}', 'demo'))).resolves.toMatchObject({
      status: 202,
    });
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(1);
    doc.on(GetCommand).resolves({ Item: labItem(labRecord({ status: 'provisioning' })) });
    await expect(call(deleteLabRoute, onLab('DELETE', '/labs/{labId}', 'demo'))).resolves.toMatchObject({
      status: 409,
      body: { code: 'LabBusy' },
    });
  });

  it('answers 404 for an unknown lab and refuses a body', async () => {
    doc.on(GetCommand).resolves({});
    await expect(call(deleteLabRoute, onLab('DELETE', '/labs/{labId}', 'demo'))).resolves.toMatchObject({
      status: 404,
    });
    await expect(
      call(deleteLabRoute, onLab('DELETE', '/labs/{labId}', 'demo', { body: '{}' })),
    ).resolves.toMatchObject({
      status: 400,
      body: { field: 'body' },
    });
  });
});
