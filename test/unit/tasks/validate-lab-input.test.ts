import type { Context } from 'aws-lambda';
import { handler } from '../../../functions/validate-lab-input/handler.js';
import { validateLabInput } from '../../../functions/validate-lab-input/task.js';
import { isGravitonInstanceType, labConfigSchema } from '../../../functions/shared/lab-config.js';

const context = { functionName: 'validate-lab-input', awsRequestId: 'r' } as unknown as Context;

/** The payload the provision state machine builds: the execution input and the execution name. */
const payload = (input: unknown, runId: unknown = 'provision-demo-1') => ({ input, runId });

describe('validate-lab-input', () => {
  it('returns the LabConfig with every default and the run id', async () => {
    await expect(handler(payload({ labId: 'demo' }, 'provision-demo-20261123'), context)).resolves.toEqual({
      labId: 'demo',
      runId: 'provision-demo-20261123',
      policyMode: 'strict',
      instanceType: 't3.micro',
      logGroupName: 'SSM-Logs',
      logRetentionDays: 30,
      cloudWatchStreaming: true,
      idleSessionTimeoutMinutes: 20,
      activationExpiryHours: 4,
    });
  });

  it('keeps given optional fields, and the result is what every later task accepts as `lab`', async () => {
    const lab = await validateLabInput(
      payload({
        labId: 'team-7',
        vpcId: 'vpc-0123456789abcdef0',
        subnetId: 'subnet-0123abcd',
        policyMode: 'seed',
      }),
    );
    expect(lab).toMatchObject({
      vpcId: 'vpc-0123456789abcdef0',
      subnetId: 'subnet-0123abcd',
      policyMode: 'seed',
    });
    expect(labConfigSchema.parse(lab)).toEqual(lab);
  });

  it.each([
    [payload({}), 'labId'],
    [payload({ labId: 'Demo' }), 'labId'],
    [payload('demo'), 'input'],
    [{ input: { labId: 'demo' } }, 'runId'],
    [payload({ labId: 'demo' }, ''), 'runId'],
    [payload({ labId: 'demo' }, 'x'.repeat(81)), 'runId'],
    [payload({ labId: 'demo' }, 'has space'), 'runId'],
    [payload({ labId: 'demo' }, 'a/b'), 'runId'],
    [payload({ labId: 'demo' }, 'a:b'), 'runId'],
    [payload({ labId: 'demo' }, 'tab\there'), 'runId'],
    [payload({ labId: 'demo' }, 'ctl\u0007'), 'runId'],
    [payload({ labId: 'demo', instanceType: 'big' }), 'instanceType'],
    [payload({ labId: 'demo', instanceType: 't4g.micro' }), 'instanceType'],
    [payload({ labId: 'demo', instanceType: 'a1.medium' }), 'instanceType'],
    [payload({ labId: 'demo', logRetentionDays: 2 }), 'logRetentionDays'],
    [payload({ labId: 'demo', subnetId: 'sg-12345678' }), 'subnetId'],
    [payload({ labId: 'demo', labid: 'typo' }), 'labid'],
    [{ ...payload({ labId: 'demo' }), extra: 1 }, 'extra'],
  ])('refuses %j naming %s, before anything is created', async (event, field) => {
    await expect(handler(event, context)).rejects.toMatchObject({ name: 'InvalidLabInput', field });
  });

  it('refuses Graviton (arm64) instance types, which cannot boot the x86_64 lab AMI, and accepts x86_64 ones', async () => {
    const graviton = ['t4g.micro', 'm6g.large', 'm6gd.xlarge', 'c7gn.2xlarge', 'r8g.metal', 'a1.medium'];
    const others = ['im4gn.large', 'is4gen.xlarge', 'g5g.xlarge', 'x2gd.large', 'hpc7g.4xlarge'];
    for (const instanceType of [...graviton, ...others]) {
      expect([instanceType, isGravitonInstanceType(instanceType)]).toEqual([instanceType, true]);
    }
    const x86 = [
      't3.micro',
      't3a.small',
      't2.micro',
      'g4dn.xlarge',
      'g6.xlarge',
      'gr6.4xlarge',
      'm7i-flex.large',
    ];
    for (const instanceType of [...x86, 'c5n.large', 'x2iedn.xlarge', 'm7a.medium', 'u-6tb1.metal']) {
      expect([instanceType, isGravitonInstanceType(instanceType)]).toEqual([instanceType, false]);
    }
    await expect(
      handler(payload({ labId: 'demo', instanceType: 'c7g.large' }), context),
    ).rejects.toMatchObject({
      name: 'InvalidLabInput',
      field: 'instanceType',
      message: expect.stringMatching(/x86_64/),
    });
    await expect(
      handler(payload({ labId: 'demo', instanceType: 'g4dn.xlarge' }), context),
    ).resolves.toMatchObject({
      instanceType: 'g4dn.xlarge',
    });
  });

  it('accepts the longest execution name and unusual but legal characters', async () => {
    const runId = `${'a'.repeat(71)}-_.()!@=+`;
    expect(runId).toHaveLength(80);
    await expect(handler(payload({ labId: 'demo' }, runId), context)).resolves.toMatchObject({ runId });
  });
});
