import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { AwsClientStub } from 'aws-sdk-client-mock';
import { ACCOUNT, REGION, awsError } from './aws-mock.js';

/** Secrets Manager in memory: name -> current value, with its create / exists / not-found errors. */
export class FakeSecrets {
  readonly values = new Map<string, string>();

  constructor(readonly stub: AwsClientStub<SecretsManagerClient>) {
    const arn = (name: string) => `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}-AbCdEf`;
    stub.on(CreateSecretCommand).callsFake(({ Name, SecretString }) => {
      if (this.values.has(Name!))
        throw awsError('ResourceExistsException', `The secret ${Name} already exists.`);
      this.values.set(Name!, SecretString!);
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
      return { ARN: arn(SecretId!), Name: SecretId };
    });
    stub.on(DeleteSecretCommand).callsFake(({ SecretId }) => {
      if (!this.values.delete(SecretId!))
        throw awsError('ResourceNotFoundException', 'Secrets Manager can’t find it.');
      return { ARN: arn(SecretId!), Name: SecretId };
    });
  }
}
