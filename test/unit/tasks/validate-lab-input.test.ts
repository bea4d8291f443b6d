import { GetBucketEncryptionCommand, S3Client } from '@aws-sdk/client-s3';
import { STSClient } from '@aws-sdk/client-sts';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { handler } from '../../../functions/validate-lab-input/handler.js';
import { validateLabInput } from '../../../functions/validate-lab-input/task.js';
import { isGravitonInstanceType, labConfigSchema } from '../../../functions/shared/lab-config.js';
import { ACCOUNT, REGION, awsError, mockCallerIdentity, testClients } from '../../helpers/aws-mock.js';

const s3 = mockClient(S3Client);
const sts = mockClient(STSClient);
beforeEach(() => {
  s3.reset();
  sts.reset();
  mockCallerIdentity(sts);
});

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
      activationExpiryHours: 1,
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
      testClients(),
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
    [payload({ labId: 'demo', logGroupName: 'aws/x' }), 'logGroupName'],
    [payload({ labId: 'demo', logGroupName: '/aws/lambda/session-lab-verify-lab' }), 'logGroupName'],
    [payload({ labId: 'demo', logGroupName: 'Other-Logs' }), 'logGroupName'],
    [payload({ labId: 'demo', logGroupName: 'SSM-Logs2' }), 'logGroupName'],
    [payload({ labId: 'demo', logGroupName: '/session-lab/' }), 'logGroupName'],
    [payload({ labId: 'demo', subnetId: 'sg-12345678' }), 'subnetId'],
    [payload({ labId: 'demo', activationExpiryHours: 2 }), 'activationExpiryHours'],
    [payload({ labId: 'demo', activationExpiryHours: 0 }), 'activationExpiryHours'],
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

  it('accepts SSM-Logs and the groups under /session-lab/ as the session log group', async () => {
    for (const logGroupName of ['SSM-Logs', '/session-lab/Systems-Manager-Workshop', '/session-lab/a/b']) {
      await expect(handler(payload({ labId: 'demo', logGroupName }), context)).resolves.toMatchObject({
        logGroupName,
      });
    }
    expect(sts.calls()).toHaveLength(0); // nothing to check against the account
  });
});

describe('validate-lab-input: the deployment’s allowSeedPolicyMode (ALLOW_SEED_POLICY_MODE)', () => {
  afterEach(() => {
    delete process.env.ALLOW_SEED_POLICY_MODE;
  });

  it('accepts seed mode by default and with the setting on', async () => {
    await expect(handler(payload({ labId: 'demo', policyMode: 'seed' }), context)).resolves.toMatchObject({
      policyMode: 'seed',
    });
    process.env.ALLOW_SEED_POLICY_MODE = 'true';
    await expect(handler(payload({ labId: 'demo', policyMode: 'seed' }), context)).resolves.toMatchObject({
      policyMode: 'seed',
    });
  });

  it('with the setting off, refuses seed mode naming policyMode before anything is asked; strict passes', async () => {
    process.env.ALLOW_SEED_POLICY_MODE = 'false';
    await expect(
      handler(payload({ labId: 'demo', policyMode: 'seed', s3BucketName: 'lab-bucket' }), context),
    ).rejects.toMatchObject({
      name: 'InvalidLabInput',
      field: 'policyMode',
      message: expect.stringMatching(/^policyMode: .*allowSeedPolicyMode/),
    });
    expect(sts.calls()).toHaveLength(0);
    expect(s3.calls()).toHaveLength(0);
    await expect(handler(payload({ labId: 'demo' }), context)).resolves.toMatchObject({
      policyMode: 'strict',
    });
    await expect(
      validateLabInput(payload({ labId: 'demo', policyMode: 'seed' }), testClients(), {
        allowSeedPolicyMode: false,
      }),
    ).rejects.toMatchObject({ name: 'InvalidLabInput', field: 'policyMode' });
  });

  it('a malformed setting is a ConfigurationError naming the variable', async () => {
    process.env.ALLOW_SEED_POLICY_MODE = 'no';
    await expect(handler(payload({ labId: 'demo' }), context)).rejects.toMatchObject({
      name: 'ConfigurationError',
      variable: 'ALLOW_SEED_POLICY_MODE',
    });
  });
});

describe('validate-lab-input: KMS key and bucket of the lab’s account', () => {
  const key = (account = ACCOUNT, region = REGION, partition = 'aws') =>
    `arn:${partition}:kms:${region}:${account}:key/0123abcd-0123-4567-89ab-0123456789ab`;

  it('accepts a key of the account and Region and a bucket the account owns, asking S3 with the expected owner', async () => {
    s3.on(GetBucketEncryptionCommand).resolves({});
    const lab = await validateLabInput(
      payload({ labId: 'demo', logKmsKeyArn: key(), s3BucketName: 'lab-session-logs' }),
      testClients(),
    );
    expect(lab).toMatchObject({ logKmsKeyArn: key(), s3BucketName: 'lab-session-logs' });
    expect(s3.commandCalls(GetBucketEncryptionCommand).map((c) => c.args[0].input)).toEqual([
      { Bucket: 'lab-session-logs', ExpectedBucketOwner: ACCOUNT },
    ]);
  });

  it.each([
    ['another account', key('210987654321')],
    ['another Region', key(ACCOUNT, 'eu-west-1')],
    ['another partition', key(ACCOUNT, REGION, 'aws-cn')],
  ])('refuses a KMS key of %s, naming logKmsKeyArn, and asks S3 nothing', async (_, logKmsKeyArn) => {
    await expect(
      validateLabInput(payload({ labId: 'demo', logKmsKeyArn }), testClients()),
    ).rejects.toMatchObject({
      name: 'InvalidLabInput',
      field: 'logKmsKeyArn',
      message: `logKmsKeyArn: must be a KMS key of the lab's account ${ACCOUNT} in ${REGION}`,
    });
    expect(s3.calls()).toHaveLength(0);
  });

  it.each([
    [
      'another account’s bucket (403 for the expected owner)',
      'AccessDenied',
      /is not a bucket of the lab's account/,
    ],
    ['a bucket that does not exist', 'NoSuchBucket', /does not exist/],
  ])('refuses %s, naming s3BucketName', async (_, error, message) => {
    s3.on(GetBucketEncryptionCommand).rejects(awsError(error, 'no'));
    await expect(
      validateLabInput(payload({ labId: 'demo', s3BucketName: 'someone-elses' }), testClients()),
    ).rejects.toMatchObject({ name: 'InvalidLabInput', field: 's3BucketName', message });
  });

  it('accepts a bucket of the account without default encryption; passes on a throttled check', async () => {
    s3.on(GetBucketEncryptionCommand).rejectsOnce(
      awsError('ServerSideEncryptionConfigurationNotFoundError', 'none'),
    );
    await expect(
      validateLabInput(payload({ labId: 'demo', s3BucketName: 'old-bucket' }), testClients()),
    ).resolves.toMatchObject({ s3BucketName: 'old-bucket' });
    s3.on(GetBucketEncryptionCommand).rejects(awsError('SlowDown', 'slow'));
    await expect(
      validateLabInput(payload({ labId: 'demo', s3BucketName: 'old-bucket' }), testClients()),
    ).rejects.toMatchObject({ name: 'SlowDown' });
  });
});
