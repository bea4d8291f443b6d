import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  PutSecretValueCommand,
  TagResourceCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { AwsClientStub } from 'aws-sdk-client-mock';
import { ACCOUNT, REGION, awsError } from './aws-mock.js';

/** Secrets Manager in memory: name -> current value and tags, with its create / exists / not-found errors. */
export class FakeSecrets {
  readonly values = new Map<string, string>();
  readonly tags = new Map<string, { Key: string; Value: string }[]>();

  constructor(readonly stub: AwsClientStub<SecretsManagerClient>) {
    const arn = (name: string) => `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}-AbCdEf`;
    stub.on(CreateSecretCommand).callsFake(({ Name, SecretString, Tags }) => {
      if (this.values.has(Name!))
        throw awsError('ResourceExistsException', `The secret ${Name} already exists.`);
      this.values.set(Name!, SecretString!);
      this.tags.set(Name!, [...(Tags ?? [])] as { Key: string; Value: string }[]);
      return { ARN: arn(Name!), Name };
    });
    stub.on(PutSecretValueCommand).callsFake(({ SecretId, SecretString }) => {
      if (!this.values.has(SecretId!))
        throw awsError('ResourceNotFoundException', 'Secrets Manager can’t find it.');
      this.values.set(SecretId!, SecretString!);
      return { ARN: arn(SecretId!), Name: SecretId };
    });
    stub.on(DescribeSecretCommand).callsFake(({ SecretId }) => {
      if (!this.values.has(SecretId!))
        throw awsError('ResourceNotFoundException', 'Secrets Manager can’t find it.');
      return { ARN: arn(SecretId!), Name: SecretId, Tags: this.tags.get(SecretId!) ?? [] };
    });
    stub.on(TagResourceCommand).callsFake(({ SecretId, Tags }) => {
      const name = [...this.values.keys()].find((n) => SecretId === n || SecretId === arn(n));
      if (!name) throw awsError('ResourceNotFoundException', 'Secrets Manager can’t find it.');
      const kept = (this.tags.get(name) ?? []).filter(
        (t) => !(Tags ?? []).some((tag: { Key?: string }) => tag.Key === t.Key),
      );
      this.tags.set(name, [...kept, ...((Tags ?? []) as { Key: string; Value: string }[])]);
      return {};
    });
    stub.on(DeleteSecretCommand).callsFake(({ SecretId }) => {
      if (!this.values.delete(SecretId!))
        throw awsError('ResourceNotFoundException', 'Secrets Manager can’t find it.');
      this.tags.delete(SecretId!);
      return { ARN: arn(SecretId!), Name: SecretId };
    });
  }
}
