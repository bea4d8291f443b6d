import {
  CreateActivationCommand,
  DeleteActivationCommand,
  DescribeActivationsCommand,
  PutParameterCommand,
} from '@aws-sdk/client-ssm';
import { createActivations, MIN_REMAINING_MS } from '../../../functions/create-activations/task.js';
import { toTagRecord } from '../../../functions/shared/tags.js';
import { awsError, testLab, throttled } from '../../helpers/aws.js';
import { FakeSsm } from '../../helpers/fake-ssm.js';

let ssm: FakeSsm;
beforeEach(() => {
  ssm = new FakeSsm();
});

const lab = testLab();
const run = () => createActivations({ lab, serviceRoleName: 'SSMServiceRole' }, { ssm: ssm.client });
const HOUR = 3600 * 1000;

describe('createActivations', () => {
  it('creates one activation per environment; the code goes only into a SecureString', async () => {
    const before = Date.now();
    const out = await run();
    expect(
      out.activations.map(({ environment, hostRole, codeParameter }) => ({
        environment,
        hostRole,
        codeParameter,
      })),
    ).toEqual([
      { environment: 'Dev', hostRole: 'DevOnPrem', codeParameter: '/session-lab/demo/activation/Dev/code' },
      {
        environment: 'Prod',
        hostRole: 'ProdOnPrem',
        codeParameter: '/session-lab/demo/activation/Prod/code',
      },
    ]);
    for (const { environment, activationId, codeParameter } of out.activations) {
      const activation = ssm.activations.get(activationId)!;
      expect(activation).toMatchObject({
        DefaultInstanceName: `${environment}OnPrem-demo`,
        IamRole: 'SSMServiceRole',
        RegistrationLimit: 1,
      });
      expect(toTagRecord(activation.Tags)).toEqual({
        'session-lab:lab-id': 'demo',
        'session-lab:managed-by': 'session-lab',
        Environment: environment,
      });
      const expiry = activation.ExpirationDate!.getTime();
      expect(expiry).toBeGreaterThanOrEqual(before + 4 * HOUR);
      expect(expiry).toBeLessThanOrEqual(Date.now() + 4 * HOUR);
      expect(ssm.parameters.get(codeParameter)).toMatchObject({
        value: activation.code,
        type: 'SecureString',
      });
    }
    const text = JSON.stringify(out);
    for (const secret of ssm.secrets()) expect(text).not.toContain(secret);
  });

  it("honours the lab's expiry", async () => {
    const out = await createActivations(
      { lab: testLab({ activationExpiryHours: 24 }), serviceRoleName: 'SSMServiceRole' },
      { ssm: ssm.client },
    );
    const expiry = ssm.activations.get(out.activations[0]!.activationId)!.ExpirationDate!.getTime();
    expect(expiry - Date.now()).toBeGreaterThan(23.9 * HOUR);
  });

  it('running twice converges: the usable activations and their stored codes are reused', async () => {
    const first = await run();
    const second = await run();
    expect(second).toEqual(first);
    expect(ssm.mock.commandCalls(CreateActivationCommand)).toHaveLength(2);
    expect(ssm.mock.commandCalls(DeleteActivationCommand)).toHaveLength(0);
  });

  it('replaces an activation whose code was never stored (crash between create and put)', async () => {
    const first = await run();
    const lost = first.activations[0]!;
    ssm.parameters.delete(lost.codeParameter);
    const second = await run();
    expect(second.activations[0]!.activationId).not.toBe(lost.activationId);
    expect(ssm.activations.has(lost.activationId)).toBe(false);
    expect(ssm.parameters.get(lost.codeParameter)!.value).toBe(
      ssm.activations.get(second.activations[0]!.activationId)!.code,
    );
    expect(second.activations[1]).toEqual(first.activations[1]);
  });

  it.each([
    ['expired', { Expired: true }],
    ['about to expire', { ExpirationDate: new Date(Date.now() + MIN_REMAINING_MS / 2) }],
    ['used up', { RegistrationsCount: 1 }],
    ['for another role', { IamRole: 'OtherRole' }],
  ])('replaces an activation that is %s, deleting its code parameter first', async (_why, change) => {
    const first = await run();
    const old = first.activations[1]!;
    const stored = ssm.activations.get(old.activationId)!;
    Object.assign(stored, change);
    if ('Expired' in change) stored.ExpirationDate = new Date(Date.now() - 1000);
    const second = await run();
    const fresh = second.activations[1]!;
    expect(fresh.activationId).not.toBe(old.activationId);
    expect(ssm.activations.has(old.activationId)).toBe(false);
    expect(ssm.parameters.get(fresh.codeParameter)!.value).toBe(
      ssm.activations.get(fresh.activationId)!.code,
    );
    // The old code was removed before the new activation existed.
    const order = ssm.mock.calls().map((c) => (c.args[0] as object).constructor.name);
    const del = order.lastIndexOf('DeleteParameterCommand');
    expect(del).toBeGreaterThan(-1);
    expect(del).toBeLessThan(order.lastIndexOf('CreateActivationCommand'));
  });

  it('replaces duplicates rather than guessing which one its stored code belongs to', async () => {
    await run();
    // A leftover second activation for Dev (an emulator or a crash in an older version).
    await ssm.client.send(
      new CreateActivationCommand({
        DefaultInstanceName: 'DevOnPrem-demo',
        IamRole: 'SSMServiceRole',
        Tags: [
          { Key: 'session-lab:lab-id', Value: 'demo' },
          { Key: 'Environment', Value: 'Dev' },
        ],
      }),
    );
    const out = await run();
    const dev = [...ssm.activations.values()].filter((a) => a.DefaultInstanceName === 'DevOnPrem-demo');
    expect(dev.map((a) => a.ActivationId)).toEqual([out.activations[0]!.activationId]);
  });

  it("leaves alone an activation with the same name that is not this lab's", async () => {
    const foreign = await ssm.client.send(
      new CreateActivationCommand({ DefaultInstanceName: 'DevOnPrem-demo', IamRole: 'SSMServiceRole' }),
    );
    await run();
    expect(ssm.activations.has(foreign.ActivationId!)).toBe(true);
  });

  it('an activation already deleted by someone else while replacing is fine', async () => {
    const first = await run();
    ssm.parameters.delete(first.activations[0]!.codeParameter);
    ssm.mock.on(DeleteActivationCommand).rejects(awsError('InvalidActivation'));
    await expect(run()).resolves.toHaveProperty('activations');
  });

  it('"Not existing role" right after the role was created is IamNotPropagatedYet, and nothing is stored', async () => {
    ssm.mock
      .on(CreateActivationCommand)
      .rejects(
        awsError('ValidationException', 'Not existing role: arn:aws:iam::123456789012:role/SSMServiceRole'),
      );
    await expect(run()).rejects.toMatchObject({ name: 'IamNotPropagatedYet' });
    expect(ssm.mock.commandCalls(PutParameterCommand)).toHaveLength(0);
  });

  it('any other ValidationException is not retried as propagation', async () => {
    ssm.mock
      .on(CreateActivationCommand)
      .rejects(awsError('ValidationException', 'ExpirationDate must be within 30 days'));
    await expect(run()).rejects.toMatchObject({ name: 'ValidationException' });
  });

  it('propagates throttling for the Step Functions retry', async () => {
    ssm.mock.on(DescribeActivationsCommand).rejects(throttled.ssm());
    await expect(run()).rejects.toMatchObject({ name: 'ThrottlingException' });
  });
});
