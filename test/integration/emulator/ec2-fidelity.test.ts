import {
  CreateKeyPairCommand,
  DeleteKeyPairCommand,
  DescribeInstancesCommand,
  DescribeKeyPairsCommand,
  RunInstancesCommand,
  type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import { useEmulator } from '../../helpers/emulator.js';
import { AMI, fleetClients, instanceProfile } from '../../helpers/fleet.js';

describe('emulator: EC2 where moto differs from AWS', () => {
  const emulator = useEmulator({ time: { scale: 0.01 } });
  const clients = () => fleetClients(emulator());

  const base: RunInstancesCommandInput = {
    ImageId: AMI,
    InstanceType: 't3.micro',
    MinCount: 1,
    MaxCount: 1,
    TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'idempotent' }] }],
  };

  it('returns the original reservation for a repeated ClientToken and refuses it with other parameters', async () => {
    const { ec2 } = clients();
    const first = await ec2.send(new RunInstancesCommand({ ...base, ClientToken: 'lab-demo-ProdOnPrem' }));
    const again = await ec2.send(new RunInstancesCommand({ ...base, ClientToken: 'lab-demo-ProdOnPrem' }));
    expect(again.ReservationId).toBe(first.ReservationId);
    expect(again.Instances?.map((i) => i.InstanceId)).toEqual(first.Instances?.map((i) => i.InstanceId));
    const { Reservations } = await ec2.send(
      new DescribeInstancesCommand({ Filters: [{ Name: 'tag:Name', Values: ['idempotent'] }] }),
    );
    expect(Reservations?.flatMap((r) => r.Instances ?? [])).toHaveLength(1);
    await expect(
      ec2.send(
        new RunInstancesCommand({ ...base, InstanceType: 't3.small', ClientToken: 'lab-demo-ProdOnPrem' }),
      ),
    ).rejects.toMatchObject({ name: 'IdempotentParameterMismatch' });
    const other = await ec2.send(new RunInstancesCommand({ ...base, ClientToken: 'lab-demo-DevOnPrem' }));
    expect(other.Instances?.[0]?.InstanceId).not.toBe(first.Instances?.[0]?.InstanceId);
  });

  it('answers InvalidParameterValue for an instance profile that does not exist', async () => {
    const { ec2, iam } = clients();
    await expect(
      ec2.send(new RunInstancesCommand({ ...base, IamInstanceProfile: { Name: 'SSMLabProfile' } })),
    ).rejects.toMatchObject({
      name: 'InvalidParameterValue',
      message:
        'Value (SSMLabProfile) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name',
    });
    await instanceProfile(iam, 'SSMLabProfile', []);
    const { Instances } = await ec2.send(
      new RunInstancesCommand({ ...base, IamInstanceProfile: { Name: 'SSMLabProfile' } }),
    );
    expect(Instances?.[0]?.IamInstanceProfile?.Arn).toContain('instance-profile/SSMLabProfile');
  });

  it('creates and deletes key pairs through moto, private key returned once', async () => {
    const { ec2 } = clients();
    const created = await ec2.send(new CreateKeyPairCommand({ KeyName: 'lab-key' }));
    expect(created.KeyMaterial).toContain('PRIVATE KEY');
    await expect(ec2.send(new CreateKeyPairCommand({ KeyName: 'lab-key' }))).rejects.toMatchObject({
      name: 'InvalidKeyPair.Duplicate',
    });
    const { KeyPairs } = await ec2.send(new DescribeKeyPairsCommand({ KeyNames: ['lab-key'] }));
    expect(KeyPairs?.[0]).not.toHaveProperty('KeyMaterial');
    await ec2.send(new DeleteKeyPairCommand({ KeyName: 'lab-key' }));
    await expect(ec2.send(new DescribeKeyPairsCommand({ KeyNames: ['lab-key'] }))).rejects.toMatchObject({
      name: 'InvalidKeyPair.NotFound',
    });
  });
});
