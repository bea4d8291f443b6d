import { beforeAll, describe, expect, it } from '@jest/globals';
import {
  AssociateKmsKeyCommand,
  CloudWatchLogsClient,
  CreateLogGroupCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { CreateRoleCommand, IAMClient, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import { emulatorClientConfig, TEST_REGION, useEmulator } from '../../helpers/emulator.js';

/**
 * KMS as AWS enforces it (local/emulator/authorization/kms.ts): Parameter Store and Secrets
 * Manager call KMS with the caller's identity, so the caller must be allowed the KMS action on the
 * key too (kms:ViaService names the service); key policies are the root of trust (the AWS managed
 * keys' policy allows every principal of the account through the one service only; a customer key
 * allows IAM grants only when its policy delegates to the account); CloudWatch Logs uses a group's
 * key as its own service principal.
 */

const ACCOUNT = '123456789012';
const SSM_VIA = `ssm.${TEST_REGION}.amazonaws.com`;
const SECRETS_VIA = `secretsmanager.${TEST_REGION}.amazonaws.com`;
const sessionArn = (role: string) => `arn:aws:sts::${ACCOUNT}:assumed-role/${role}/kms-test`;

const policy = (...Statement: Record<string, unknown>[]) =>
  JSON.stringify({ Version: '2012-10-17', Statement });

/** The product's Lambda roles' statement (infra/constructs/task-function.ts neverDecryptSecrets). */
const NEVER_DECRYPT = {
  Effect: 'Deny',
  Action: ['kms:Decrypt', 'secretsmanager:GetSecretValue'],
  Resource: '*',
  Condition: { StringEqualsIfExists: { 'kms:ViaService': [SSM_VIA, SECRETS_VIA] } },
};

const PARAMETERS = {
  Effect: 'Allow',
  Action: ['ssm:GetParameter', 'ssm:PutParameter'],
  Resource: `arn:aws:ssm:${TEST_REGION}:${ACCOUNT}:parameter/kms/*`,
};

const SECRETS = {
  Effect: 'Allow',
  Action: ['secretsmanager:CreateSecret', 'secretsmanager:GetSecretValue'],
  Resource: `arn:aws:secretsmanager:${TEST_REGION}:${ACCOUNT}:secret:kms/*`,
};

interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
}

describe('KMS authorization: key policies and the KMS calls services make for their caller', () => {
  const emulator = useEmulator();
  const config = () => emulatorClientConfig(emulator());
  const as = (creds: Credentials) => ({
    ...config(),
    credentials: {
      accessKeyId: creds.accessKeyId,
      secretAccessKey: creds.secretAccessKey,
      sessionToken: creds.sessionToken,
    },
  });
  const admin = {
    iam: () => new IAMClient(config()),
    ssm: () => new SSMClient(config()),
    secrets: () => new SecretsManagerClient(config()),
    logs: () => new CloudWatchLogsClient(config()),
  };

  /** A role (trusted by Lambda) with one inline policy, and a session of it. */
  async function role(name: string, document: string): Promise<Credentials> {
    await admin.iam().send(
      new CreateRoleCommand({
        RoleName: name,
        AssumeRolePolicyDocument: policy({
          Effect: 'Allow',
          Principal: { Service: 'lambda.amazonaws.com' },
          Action: 'sts:AssumeRole',
        }),
      }),
    );
    await admin
      .iam()
      .send(new PutRolePolicyCommand({ RoleName: name, PolicyName: 'p', PolicyDocument: document }));
    const res = await fetch(`${emulator().url}/__emulator/assume-role-for-service`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        roleArn: `arn:aws:iam::${ACCOUNT}:role/${name}`,
        service: 'lambda.amazonaws.com',
        sessionName: 'kms-test',
      }),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as Credentials;
  }

  /**
   * A KMS call (awsJson 1.1, signed as the SDK signs it; the project has no KMS client). The
   * emulator knows the caller from the credential scope's key id and the session token.
   */
  async function kms(operation: string, input: unknown, creds?: Credentials) {
    const url = new URL(emulator().url);
    const payload = JSON.stringify(input);
    const signer = new SignatureV4({
      credentials: creds ?? emulatorClientConfig(emulator()).credentials,
      region: TEST_REGION,
      service: 'kms',
      sha256: Sha256,
    });
    const signed = await signer.sign({
      method: 'POST',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: '/',
      query: {},
      headers: {
        host: url.host,
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': `TrentService.${operation}`,
      },
      body: payload,
    });
    const res = await fetch(`${emulator().url}/`, {
      method: 'POST',
      headers: signed.headers as Record<string, string>,
      body: payload,
    });
    const body = (await res.json()) as Record<string, string> & { KeyMetadata?: { Arn: string } };
    return { status: res.status, body };
  }

  const createKey = async (keyPolicy?: string) =>
    (await kms('CreateKey', keyPolicy ? { Policy: keyPolicy } : {})).body.KeyMetadata!.Arn;

  let managedSsmKey: string;
  let managedSecretsKey: string;

  beforeAll(async () => {
    managedSsmKey = (await kms('DescribeKey', { KeyId: 'alias/aws/ssm' })).body.KeyMetadata!.Arn;
    managedSecretsKey = (await kms('DescribeKey', { KeyId: 'alias/aws/secretsmanager' })).body.KeyMetadata!
      .Arn;
    await admin
      .ssm()
      .send(new PutParameterCommand({ Name: '/kms/secure', Value: 's3cret', Type: 'SecureString' }));
  });

  it('decrypts a SecureString under aws/ssm through SSM with no KMS grant; a direct Decrypt is refused', async () => {
    const reader = await role('KmsReader', policy(PARAMETERS));
    const { Parameter } = await new SSMClient(as(reader)).send(
      new GetParameterCommand({ Name: '/kms/secure', WithDecryption: true }),
    );
    expect(Parameter?.Value).toBe('s3cret');
    // Writing one needs no KMS grant either (kms:Encrypt through SSM).
    await new SSMClient(as(reader)).send(
      new PutParameterCommand({ Name: '/kms/written', Value: 'w', Type: 'SecureString' }),
    );

    const { CiphertextBlob } = (await kms('Encrypt', { KeyId: 'alias/aws/ssm', Plaintext: 'aGk=' })).body;
    const direct = await kms('Decrypt', { CiphertextBlob }, reader);
    expect(direct.status).toBe(400);
    expect(direct.body).toMatchObject({
      __type: 'AccessDeniedException',
      message:
        `User: ${sessionArn('KmsReader')} is not authorized to perform: kms:Decrypt on resource: ` +
        `${managedSsmKey} because no resource-based policy allows the kms:Decrypt action`,
    });
    // Not even with an identity grant: the managed key's policy delegates only metadata reads.
    const granted = await role(
      'KmsGranted',
      policy(PARAMETERS, { Effect: 'Allow', Action: 'kms:*', Resource: '*' }),
    );
    expect((await kms('Decrypt', { CiphertextBlob }, granted)).status).toBe(400);
    expect((await kms('DescribeKey', { KeyId: 'alias/aws/ssm' }, granted)).status).toBe(200);
  });

  it("refuses GetParameter WithDecryption to a role with the product's Deny on kms:Decrypt via SSM", async () => {
    const task = await role('KmsTask', policy(PARAMETERS, NEVER_DECRYPT));
    const ssm = new SSMClient(as(task));
    const err = await ssm
      .send(new GetParameterCommand({ Name: '/kms/secure', WithDecryption: true }))
      .catch((e: Error) => e);
    expect(err).toMatchObject({ name: 'AccessDeniedException' });
    expect((err as Error).message).toMatch(
      new RegExp(
        `^User: ${sessionArn('KmsTask')} is not authorized to perform: kms:Decrypt on resource: ` +
          `${managedSsmKey} with an explicit deny in an identity-based policy \\(Service: AWSKMS; ` +
          'Status Code: 400; Error Code: AccessDeniedException; Request ID: [0-9a-f-]+; Proxy: null\\)$',
      ),
    );
    // Without decryption it reads the parameter (the value stays encrypted), and it may still write.
    const { Parameter } = await ssm.send(new GetParameterCommand({ Name: '/kms/secure' }));
    expect(Parameter?.Value).not.toBe('s3cret');
    await ssm.send(new PutParameterCommand({ Name: '/kms/task-written', Value: 'w', Type: 'SecureString' }));
  });

  it('authorizes kms:Decrypt and kms:GenerateDataKey through Secrets Manager the same way', async () => {
    await admin.secrets().send(new CreateSecretCommand({ Name: 'kms/password', SecretString: 'pw' }));
    const reader = await role('SecretsReader', policy(SECRETS));
    const secrets = new SecretsManagerClient(as(reader));
    expect((await secrets.send(new GetSecretValueCommand({ SecretId: 'kms/password' }))).SecretString).toBe(
      'pw',
    );
    await secrets.send(new CreateSecretCommand({ Name: 'kms/by-reader', SecretString: 'x' }));

    const noDecrypt = await role(
      'SecretsNoDecrypt',
      policy(SECRETS, {
        Effect: 'Deny',
        Action: 'kms:Decrypt',
        Resource: '*',
        Condition: { StringEquals: { 'kms:ViaService': SECRETS_VIA } },
      }),
    );
    await expect(
      new SecretsManagerClient(as(noDecrypt)).send(new GetSecretValueCommand({ SecretId: 'kms/password' })),
    ).rejects.toMatchObject({ name: 'AccessDeniedException', message: 'Access to KMS is not allowed' });

    // The product's roles: GetSecretValue itself is denied; writing a secret (GenerateDataKey) is not.
    const task = await role('SecretsTask', policy(SECRETS, NEVER_DECRYPT));
    const taskSecrets = new SecretsManagerClient(as(task));
    const denied = await taskSecrets
      .send(new GetSecretValueCommand({ SecretId: 'kms/password' }))
      .catch((e: Error) => e);
    expect((denied as Error).message).toContain(
      'secretsmanager:GetSecretValue on resource: arn:aws:secretsmanager:',
    );
    await taskSecrets.send(new CreateSecretCommand({ Name: 'kms/by-task', SecretString: 'x' }));

    const noDataKey = await role(
      'SecretsNoDataKey',
      policy(SECRETS, {
        Effect: 'Deny',
        Action: 'kms:GenerateDataKey',
        Resource: managedSecretsKey,
      }),
    );
    await expect(
      new SecretsManagerClient(as(noDataKey)).send(
        new CreateSecretCommand({ Name: 'kms/refused', SecretString: 'x' }),
      ),
    ).rejects.toMatchObject({ name: 'AccessDeniedException', message: 'Access to KMS is not allowed' });
  });

  it('evaluates a customer managed key with its own policy: identity grants count only when it delegates', async () => {
    const kmsUser = await role(
      'KmsUser',
      policy(PARAMETERS, {
        Effect: 'Allow',
        Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:DescribeKey'],
        Resource: '*',
      }),
    );
    const noKmsGrant = await role('KmsNoGrant', policy(PARAMETERS));

    // moto's default key policy delegates to the account: the identity grant decides.
    const delegating = await createKey();
    expect((await kms('Encrypt', { KeyId: delegating, Plaintext: 'aGk=' }, kmsUser)).status).toBe(200);
    const notGranted = await kms('Encrypt', { KeyId: delegating, Plaintext: 'aGk=' }, noKmsGrant);
    expect(notGranted.body.message).toBe(
      `User: ${sessionArn('KmsNoGrant')} is not authorized to perform: kms:Encrypt on resource: ` +
        `${delegating} because no identity-based policy allows the kms:Encrypt action`,
    );

    // A key policy that names another principal only: the identity grant does not count.
    const closed = await createKey(
      policy({
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${ACCOUNT}:role/KeyAdministrator` },
        Action: 'kms:*',
        Resource: '*',
      }),
    );
    const refused = await kms('Encrypt', { KeyId: closed, Plaintext: 'aGk=' }, kmsUser);
    expect(refused).toMatchObject({
      status: 400,
      body: {
        __type: 'AccessDeniedException',
        message:
          `User: ${sessionArn('KmsUser')} is not authorized to perform: kms:Encrypt on resource: ` +
          `${closed} because no resource-based policy allows the kms:Encrypt action`,
      },
    });
    // Through SSM as well: a SecureString under that key is not readable, nor writable, by the role.
    await admin
      .ssm()
      .send(
        new PutParameterCommand({ Name: '/kms/closed', Value: 'c', Type: 'SecureString', KeyId: closed }),
      );
    const ssm = new SSMClient(as(kmsUser));
    const read = await ssm
      .send(new GetParameterCommand({ Name: '/kms/closed', WithDecryption: true }))
      .catch((e: Error) => e);
    expect((read as Error).message).toContain(
      `kms:Decrypt on resource: ${closed} because no resource-based policy allows the kms:Decrypt action`,
    );
    await expect(
      ssm.send(
        new PutParameterCommand({ Name: '/kms/closed-2', Value: 'c', Type: 'SecureString', KeyId: closed }),
      ),
    ).rejects.toMatchObject({ name: 'AccessDeniedException' });
    // Under the delegating key the role's grant suffices through SSM too.
    await ssm.send(
      new PutParameterCommand({ Name: '/kms/open', Value: 'o', Type: 'SecureString', KeyId: delegating }),
    );
    const { Parameter } = await ssm.send(
      new GetParameterCommand({ Name: '/kms/open', WithDecryption: true }),
    );
    expect(Parameter?.Value).toBe('o');
  });

  it("refuses a log group's key whose policy does not let CloudWatch Logs use it", async () => {
    const logs = admin.logs();
    const groupArn = (name: string) => `arn:aws:logs:${TEST_REGION}:${ACCOUNT}:log-group:${name}`;
    const withoutLogs = await createKey();
    const refusal = (name: string) => ({
      name: 'AccessDeniedException',
      message: `The specified KMS key does not exist or is not allowed to be used with Arn '${groupArn(name)}'`,
    });
    await expect(
      logs.send(new CreateLogGroupCommand({ logGroupName: '/kms/refused', kmsKeyId: withoutLogs })),
    ).rejects.toMatchObject(refusal('/kms/refused'));

    await logs.send(new CreateLogGroupCommand({ logGroupName: '/kms/plain' }));
    await expect(
      logs.send(new AssociateKmsKeyCommand({ logGroupName: '/kms/plain', kmsKeyId: withoutLogs })),
    ).rejects.toMatchObject(refusal('/kms/plain'));

    // A key policy that allows the logs service principal for /kms/allowed only.
    const forLogs = await createKey(
      policy(
        {
          Effect: 'Allow',
          Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
          Action: 'kms:*',
          Resource: '*',
        },
        {
          Effect: 'Allow',
          Principal: { Service: `logs.${TEST_REGION}.amazonaws.com` },
          Action: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
          Resource: '*',
          Condition: { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': groupArn('/kms/allowed') } },
        },
      ),
    );
    await logs.send(new CreateLogGroupCommand({ logGroupName: '/kms/allowed', kmsKeyId: forLogs }));
    await expect(
      logs.send(new AssociateKmsKeyCommand({ logGroupName: '/kms/plain', kmsKeyId: forLogs })),
    ).rejects.toMatchObject(refusal('/kms/plain'));
  });
});
