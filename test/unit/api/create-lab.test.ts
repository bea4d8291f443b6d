import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient, GetCommand, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { createLabRoute } from '../../../functions/api/create-lab/route.js';
import { apiLimitsFromEnv, respond, type ApiDeps } from '../../../functions/shared/api.js';
import { SfnWorkflowStarter } from '../../../functions/shared/workflow-starter.js';
import { inputsOf } from '../../helpers/aws-mock.js';
import {
  NOW_SECONDS,
  apiEvent,
  conditionFailed,
  labItem,
  labRecord,
  PORTAL_CALLER,
  replyOf,
  testApiDeps,
  testRegistry,
} from '../../helpers/registry.js';

const doc = mockClient(DynamoDBDocumentClient);
const sfn = mockClient(SFNClient);
const PROVISION_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:session-lab-provision-lab';

const deps = (): ApiDeps =>
  testApiDeps(
    testRegistry(),
    new SfnWorkflowStarter(new SFNClient({ region: 'us-east-1' }), {
      PROVISION_LAB_STATE_MACHINE_ARN: PROVISION_ARN,
    }),
  );
const post = (body: unknown, headers: Record<string, string> = {}, userArn?: string | null) =>
  respond(
    createLabRoute,
    apiEvent({ method: 'POST', resource: '/labs', body, headers, userArn }),
    deps(),
  ).then(replyOf);

beforeEach(() => {
  doc.reset();
  sfn.reset();
  doc.on(GetCommand).resolves({});
  doc.on(PutCommand).resolves({});
  doc.on(ScanCommand).resolves({ Items: [] });
  sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:exec' });
});

describe('POST /labs', () => {
  it('records the lab, starts its provisioning under the recorded name and answers 202 {labId, status}', async () => {
    const reply = await post(
      { labId: 'stu-01', policyMode: 'seed' },
      {},
      'arn:aws:iam::123456789012:user/portal',
    );
    expect(reply).toEqual({ status: 202, body: { labId: 'stu-01', status: 'provisioning' } });
    const [put] = inputsOf(doc, PutCommand);
    expect(put!.Item).toMatchObject({
      pk: 'lab#stu-01',
      status: 'provisioning',
      generation: 1,
      workflow: 'provision-lab',
      owner: 'arn:aws:iam::123456789012:user/portal',
      expiresAt: NOW_SECONDS + 72 * 3600,
      nightlyReset: false,
      options: { labId: 'stu-01', policyMode: 'seed', instanceType: 't3.micro', logGroupName: 'SSM-Logs' },
    });
    expect(put!.ConditionExpression).toBe('attribute_not_exists(#pk)');
    const [start] = inputsOf(sfn, StartExecutionCommand);
    expect(start).toEqual({
      stateMachineArn: PROVISION_ARN,
      name: put!.Item!.executionName,
      input: JSON.stringify(put!.Item!.options),
    });
    expect(String(put!.Item!.executionName)).toMatch(/^stu-01-g1-provision-\d{14}-[0-9a-f]{6}$/);
  });

  it('records the signed caller as requestedBy, whatever the body says; owner stays the body’s free text', async () => {
    await expect(post({ labId: 'stu-01', owner: 'Alice Example' })).resolves.toMatchObject({ status: 202 });
    expect(inputsOf(doc, PutCommand)[0]!.Item).toMatchObject({
      owner: 'Alice Example',
      requestedBy: PORTAL_CALLER,
    });
    // requestedBy is not a body field: it cannot be claimed.
    await expect(post({ labId: 'stu-02', requestedBy: 'someone-else' })).resolves.toMatchObject({
      status: 400,
      body: { field: 'requestedBy' },
    });
  });

  it('takes the caller id when API Gateway reports no ARN, and refuses a request with no caller (403)', async () => {
    const event = apiEvent({ method: 'POST', resource: '/labs', body: { labId: 'stu-01' }, userArn: null });
    event.requestContext.identity.caller = 'AROAEXAMPLE:portal-session';
    await expect(respond(createLabRoute, event, deps()).then(replyOf)).resolves.toMatchObject({
      status: 202,
    });
    expect(inputsOf(doc, PutCommand)[0]!.Item).toMatchObject({ requestedBy: 'AROAEXAMPLE:portal-session' });

    doc.resetHistory();
    await expect(post({ labId: 'stu-02' }, {}, null)).resolves.toEqual({
      status: 403,
      body: { code: 'CallerUnknown', message: 'the request carries no signed caller identity' },
    });
    expect(doc.calls()).toHaveLength(0);
  });

  it('refuses a lab past the account’s cap with 429 LabLimitExceeded, naming MAX_LABS; a replay still answers', async () => {
    const active = Array.from({ length: 8 }, (_, i) => ({ labId: `lab-${i}` }));
    doc.on(ScanCommand).resolves({ Items: active });
    const reply = await post({ labId: 'stu-01' });
    expect(reply).toMatchObject({ status: 429, body: { code: 'LabLimitExceeded' } });
    expect(String(reply.body.message)).toMatch(/cap of 8 \(MAX_LABS\)/);
    expect(doc.commandCalls(PutCommand)).toHaveLength(0);
    expect(sfn.calls()).toHaveLength(0);
    // Only labs that are not deleted count (the Scan's filter), and a lab already there adds nothing.
    expect(inputsOf(doc, ScanCommand)[0]!.FilterExpression).toMatch(/<>/);
    const lab = labRecord({ labId: 'lab-3', status: 'provisioning', clientRequestToken: 'k' });
    doc.on(GetCommand).resolves({ Item: labItem(lab) });
    sfn
      .on(StartExecutionCommand)
      .rejects(Object.assign(new Error('exists'), { name: 'ExecutionAlreadyExists' }));
    await expect(post({ labId: 'lab-3', clientRequestToken: 'k' })).resolves.toMatchObject({ status: 202 });
  });

  it('is idempotent by Idempotency-Key: the same key answers the same lab and re-starts the same run', async () => {
    const lab = labRecord({ labId: 'stu-01', status: 'provisioning', clientRequestToken: 'key-1' });
    doc.on(GetCommand).resolves({ Item: labItem(lab) });
    sfn
      .on(StartExecutionCommand)
      .rejects(Object.assign(new Error('exists'), { name: 'ExecutionAlreadyExists' }));
    await expect(post({ labId: 'stu-01' }, { 'idempotency-key': 'key-1' })).resolves.toEqual({
      status: 202,
      body: { labId: 'stu-01', status: 'provisioning' },
    });
    expect(doc.commandCalls(PutCommand)).toHaveLength(0);
    expect(inputsOf(sfn, StartExecutionCommand)[0]!.name).toBe(lab.executionName);
  });

  it('answers 409 for a lab that exists under another token, or none', async () => {
    doc
      .on(GetCommand)
      .resolves({ Item: labItem(labRecord({ labId: 'stu-01', clientRequestToken: 'key-1' })) });
    await expect(post({ labId: 'stu-01', clientRequestToken: 'key-2' })).resolves.toMatchObject({
      status: 409,
      body: { code: 'LabExists' },
    });
    await expect(post({ labId: 'stu-01' })).resolves.toMatchObject({ status: 409 });
    expect(sfn.calls()).toHaveLength(0);
  });

  it('resolves a lost creation race by looking again: a concurrent create with the same token is a replay', async () => {
    doc
      .on(GetCommand)
      .resolvesOnce({})
      .resolves({
        Item: labItem(labRecord({ labId: 'stu-01', status: 'provisioning', clientRequestToken: 'k' })),
      });
    doc.on(PutCommand).rejects(conditionFailed());
    await expect(post({ labId: 'stu-01', clientRequestToken: 'k' })).resolves.toMatchObject({ status: 202 });
  });

  it('uses a deleted lab id again as the next generation', async () => {
    doc.on(GetCommand).resolves({
      Item: labItem(labRecord({ labId: 'stu-01', status: 'deleted', generation: 2, version: 8 })),
    });
    await expect(post({ labId: 'stu-01' })).resolves.toMatchObject({ status: 202 });
    expect(inputsOf(doc, PutCommand)[0]).toMatchObject({
      Item: { generation: 3 },
      ExpressionAttributeValues: { ':version': 8, ':deleted': 'deleted' },
    });
  });

  it.each([
    ['a bad lab id', { labId: 'Bad_Id' }, 'labId'],
    ['an unknown field', { labId: 'stu-01', bogus: true }, 'bogus'],
    ['a wrong type', { labId: 'stu-01', instanceType: 42 }, 'instanceType'],
    ['a too long owner', { labId: 'stu-01', owner: 'x'.repeat(129) }, 'owner'],
    ['a retention CloudWatch does not offer', { labId: 'stu-01', logRetentionDays: 2 }, 'logRetentionDays'],
    ['a lifetime past the limit', { labId: 'stu-01', expiresInHours: 241 }, 'expiresInHours'],
    ['a non-boolean nightlyReset', { labId: 'stu-01', nightlyReset: 'yes' }, 'nightlyReset'],
    ['a malformed token', { labId: 'stu-01', clientRequestToken: 'has spaces' }, 'clientRequestToken'],
    ['no lab id', {}, 'labId'],
    ['an array body', '[1,2]', 'body'],
    ['malformed JSON', '{"labId": ', 'body'],
    ['a body over 64 KiB', JSON.stringify({ labId: 'stu-01', owner: 'x'.repeat(70_000) }), 'body'],
  ])('refuses %s with a 400 naming the field, before anything is created', async (_case, body, field) => {
    const reply = await post(body);
    expect(reply).toMatchObject({ status: 400, body: { code: 'InvalidRequest', field } });
    expect(String(reply.body.message)).toMatch(new RegExp(`^${field}: `));
    expect(doc.calls()).toHaveLength(0);
    expect(sfn.calls()).toHaveLength(0);
  });

  it('with allowSeedPolicyMode off, refuses seed mode with a 400 naming policyMode, creating nothing; strict passes', async () => {
    const refusing = testApiDeps(
      testRegistry(),
      new SfnWorkflowStarter(new SFNClient({ region: 'us-east-1' }), {
        PROVISION_LAB_STATE_MACHINE_ARN: PROVISION_ARN,
      }),
    );
    refusing.limits.allowSeedPolicyMode = false;
    const create = (body: unknown) =>
      respond(createLabRoute, apiEvent({ method: 'POST', resource: '/labs', body }), refusing).then(replyOf);
    const reply = await create({ labId: 'stu-01', policyMode: 'seed' });
    expect(reply).toMatchObject({ status: 400, body: { code: 'InvalidRequest', field: 'policyMode' } });
    expect(String(reply.body.message)).toMatch(/^policyMode: .*allowSeedPolicyMode/);
    expect(doc.calls()).toHaveLength(0);
    expect(sfn.calls()).toHaveLength(0);
    await expect(create({ labId: 'stu-01', policyMode: 'strict' })).resolves.toMatchObject({ status: 202 });
  });

  it('reads allowSeedPolicyMode from ALLOW_SEED_POLICY_MODE (default true)', () => {
    expect(apiLimitsFromEnv({}).allowSeedPolicyMode).toBe(true);
    expect(apiLimitsFromEnv({ ALLOW_SEED_POLICY_MODE: 'true' }).allowSeedPolicyMode).toBe(true);
    expect(apiLimitsFromEnv({ ALLOW_SEED_POLICY_MODE: 'false' }).allowSeedPolicyMode).toBe(false);
    expect(() => apiLimitsFromEnv({ ALLOW_SEED_POLICY_MODE: 'off' })).toThrow(
      expect.objectContaining({ name: 'ConfigurationError', variable: 'ALLOW_SEED_POLICY_MODE' }),
    );
  });

  it('refuses an Idempotency-Key that disagrees with the body, or is malformed', async () => {
    await expect(
      post({ labId: 'stu-01', clientRequestToken: 'a' }, { 'Idempotency-Key': 'b' }),
    ).resolves.toMatchObject({
      status: 400,
      body: { field: 'Idempotency-Key' },
    });
    await expect(post({ labId: 'stu-01' }, { 'Idempotency-Key': 'x'.repeat(65) })).resolves.toMatchObject({
      status: 400,
      body: { field: 'Idempotency-Key' },
    });
  });

  it('answers 500 with no detail when starting fails (the record stays, a retry re-starts it)', async () => {
    sfn
      .on(StartExecutionCommand)
      .rejects(Object.assign(new Error('secret detail'), { name: 'ServiceUnavailable' }));
    await expect(post({ labId: 'stu-01' })).resolves.toEqual({
      status: 500,
      body: { code: 'InternalError', message: 'internal error' },
    });
  });
});
