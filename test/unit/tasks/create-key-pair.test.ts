import { CreateKeyPairCommand, DeleteKeyPairCommand } from '@aws-sdk/client-ec2';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { createKeyPair } from '../../../functions/create-key-pair/task.js';
import { toTagRecord } from '../../../functions/shared/tags.js';
import { awsError, testLab, throttled } from '../../helpers/aws.js';
import { FakeEc2 } from '../../helpers/fake-ec2.js';
import { FakeSsm } from '../../helpers/fake-ssm.js';

let ec2: FakeEc2;
let ssm: FakeSsm;
beforeEach(() => {
  ec2 = new FakeEc2();
  ssm = new FakeSsm();
});

const lab = testLab();
const run = () => createKeyPair({ lab }, { ec2: ec2.client, ssm: ssm.client });
const PARAM = '/session-lab/demo/key-pair/private-key';

describe('createKeyPair', () => {
  it('creates a tagged RSA/PEM key pair and stores the private key only in a SecureString', async () => {
    const out = await run();
    expect(out).toEqual({ keyName: 'MyKeyPair-demo', privateKeyParameter: PARAM });
    const request = ec2.mock.commandCalls(CreateKeyPairCommand)[0]!.args[0].input;
    expect(request).toMatchObject({ KeyName: 'MyKeyPair-demo', KeyType: 'rsa', KeyFormat: 'pem' });
    expect(toTagRecord(ec2.keyPairs.get('MyKeyPair-demo')!.tags)).toMatchObject({
      'session-lab:lab-id': 'demo',
    });
    const stored = ssm.parameters.get(PARAM)!;
    expect(stored).toMatchObject({
      type: 'SecureString',
      value: ec2.keyPairs.get('MyKeyPair-demo')!.keyMaterial,
    });
    expect(toTagRecord(stored.tags)).toMatchObject({ 'session-lab:lab-id': 'demo' });
    expect(JSON.stringify(out)).not.toContain('PRIVATE KEY');
  });

  it('running twice converges: the stored key is reused, nothing is recreated', async () => {
    await run();
    const material = ec2.keyPairs.get('MyKeyPair-demo')!.keyMaterial;
    await expect(run()).resolves.toEqual({ keyName: 'MyKeyPair-demo', privateKeyParameter: PARAM });
    expect(ec2.mock.commandCalls(DeleteKeyPairCommand)).toHaveLength(0);
    expect(ssm.mock.commandCalls(PutParameterCommand)).toHaveLength(1);
    expect(ssm.parameters.get(PARAM)!.value).toBe(material);
  });

  it('a key pair whose private key was never stored is deleted and recreated', async () => {
    await run();
    ssm.parameters.delete(PARAM);
    const lost = ec2.keyPairs.get('MyKeyPair-demo')!.keyMaterial;
    await run();
    const fresh = ec2.keyPairs.get('MyKeyPair-demo')!.keyMaterial;
    expect(fresh).not.toBe(lost);
    expect(ssm.parameters.get(PARAM)!.value).toBe(fresh);
    expect(ec2.mock.commandCalls(DeleteKeyPairCommand)).toHaveLength(1);
  });

  it('a stale parameter left by a teardown is overwritten with the new key', async () => {
    ssm.parameters.set(PARAM, { value: 'old key', type: 'SecureString', tags: [], version: 1 });
    await run();
    expect(ssm.parameters.get(PARAM)!.value).toBe(ec2.keyPairs.get('MyKeyPair-demo')!.keyMaterial);
  });

  it('a deleted key pair still visible to CreateKeyPair is NotReadyYet', async () => {
    await run();
    ssm.parameters.delete(PARAM);
    ec2.mock.on(CreateKeyPairCommand).rejects(awsError('InvalidKeyPair.Duplicate'));
    await expect(run()).rejects.toMatchObject({ name: 'NotReadyYet' });
  });

  it('propagates throttling for the Step Functions retry', async () => {
    ec2.mock.on(CreateKeyPairCommand).rejects(throttled.ec2());
    await expect(run()).rejects.toMatchObject({ name: 'RequestLimitExceeded' });
    expect(ssm.parameters.size).toBe(0);
  });
});
