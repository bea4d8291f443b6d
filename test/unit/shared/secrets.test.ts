import { mockClient } from 'aws-sdk-client-mock';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import {
  DeleteParameterCommand,
  ParameterAlreadyExists,
  ParameterNotFound,
  PutParameterCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import {
  deleteParameter,
  deleteSecret,
  generatePassword,
  putSecret,
  putSecureParameter,
} from '../../../functions/shared/secrets.js';
import { labTags } from '../../../functions/shared/tags.js';

const ssmMock = mockClient(SSMClient);
const secretsMock = mockClient(SecretsManagerClient);
const ssm = new SSMClient({ region: 'us-east-1' });
const secrets = new SecretsManagerClient({ region: 'us-east-1' });
const meta = { $metadata: {}, message: 'x' };

beforeEach(() => {
  ssmMock.reset();
  secretsMock.reset();
});

describe('putSecureParameter', () => {
  it('writes a tagged SecureString and returns only the name', async () => {
    ssmMock.on(PutParameterCommand).resolves({ Version: 1 });
    await expect(putSecureParameter(ssm, '/session-lab/demo/x', 's3cret', labTags('demo'))).resolves.toBe(
      '/session-lab/demo/x',
    );
    const input = ssmMock.commandCalls(PutParameterCommand)[0]!.args[0].input;
    expect(input).toMatchObject({ Name: '/session-lab/demo/x', Type: 'SecureString', Value: 's3cret' });
    expect(input.Overwrite).toBeUndefined();
  });

  it('overwrites without tags when the parameter already exists (PutParameter forbids both)', async () => {
    ssmMock.on(PutParameterCommand).rejectsOnce(new ParameterAlreadyExists(meta)).resolves({ Version: 2 });
    await putSecureParameter(ssm, '/p', 'v2', labTags('demo'));
    const second = ssmMock.commandCalls(PutParameterCommand)[1]!.args[0].input;
    expect(second).toMatchObject({ Overwrite: true, Type: 'SecureString', Value: 'v2' });
    expect(second.Tags).toBeUndefined();
  });

  it('propagates throttling for the SDK and the state machine to retry', async () => {
    ssmMock
      .on(PutParameterCommand)
      .rejects(Object.assign(new Error('slow down'), { name: 'ThrottlingException' }));
    await expect(putSecureParameter(ssm, '/p', 'v', [])).rejects.toThrow('slow down');
  });
});

describe('deleteParameter', () => {
  it('treats a missing parameter as deleted', async () => {
    ssmMock.on(DeleteParameterCommand).rejects(new ParameterNotFound(meta));
    await expect(deleteParameter(ssm, '/gone')).resolves.toBeUndefined();
  });
});

describe('putSecret', () => {
  it('creates the secret and returns its ARN', async () => {
    secretsMock.on(CreateSecretCommand).resolves({ ARN: 'arn:secret:1' });
    await expect(putSecret(secrets, 'n', 'v', [])).resolves.toBe('arn:secret:1');
  });

  it('rotates the value when the secret exists', async () => {
    secretsMock.on(CreateSecretCommand).rejects(new ResourceExistsException(meta));
    secretsMock.on(PutSecretValueCommand).resolves({ ARN: 'arn:secret:1' });
    await expect(putSecret(secrets, 'n', 'v', [])).resolves.toBe('arn:secret:1');
    expect(secretsMock.commandCalls(PutSecretValueCommand)[0]!.args[0].input).toEqual({
      SecretId: 'n',
      SecretString: 'v',
    });
  });

  it('deleteSecret forces deletion and treats a missing secret as deleted', async () => {
    secretsMock.on(DeleteSecretCommand).rejects(new ResourceNotFoundException(meta));
    await expect(deleteSecret(secrets, 'n')).resolves.toBeUndefined();
    expect(secretsMock.commandCalls(DeleteSecretCommand)[0]!.args[0].input.ForceDeleteWithoutRecovery).toBe(
      true,
    );
  });
});

describe('generatePassword', () => {
  it('meets the IAM default policy: length and all four character classes', () => {
    for (let i = 0; i < 50; i++) {
      const password = generatePassword();
      expect(password.length).toBeGreaterThanOrEqual(24);
      expect(password).toMatch(/[A-Z]/);
      expect(password).toMatch(/[a-z]/);
      expect(password).toMatch(/[0-9]/);
      expect(password).toMatch(/[^A-Za-z0-9]/);
    }
  });

  it('honours a stricter minimum length and differs every call', () => {
    expect(generatePassword(40).length).toBe(40);
    expect(generatePassword()).not.toBe(generatePassword());
  });
});
