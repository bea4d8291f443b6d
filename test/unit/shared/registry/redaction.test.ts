import { ledgerOf, withoutSecrets } from '../../../../functions/shared/registry/redaction.js';

describe('redaction', () => {
  it('drops secret-named fields and private keys, keeps names and ARNs', () => {
    expect(
      withoutSecrets({
        user: { userName: 'u', passwordSecretArn: 'arn:x', password: 'hunter2' },
        nodes: [{ nodeId: 'mi-1', activationCode: 'c0de' }],
        note: '-----BEGIN RSA PRIVATE KEY-----\nabc',
      }),
    ).toEqual({
      user: { userName: 'u', passwordSecretArn: 'arn:x' },
      nodes: [{ nodeId: 'mi-1' }],
      note: '[removed]',
    });
  });

  it('collects the ids, names and ARNs of an output as the ledger', () => {
    expect(
      ledgerOf({
        keyName: 'MyKeyPair-demo',
        privateKeyParameter: '/session-lab/demo/key-pair/private-key',
        network: { vpcId: 'vpc-1', cidr: '10.0.0.0/16' },
        instances: [{ instanceId: 'i-1', role: 'Dev' }],
        ready: true,
      }),
    ).toEqual({
      keyName: 'MyKeyPair-demo',
      privateKeyParameter: '/session-lab/demo/key-pair/private-key',
      'network.vpcId': 'vpc-1',
      'instances.0.instanceId': 'i-1',
    });
  });
});
