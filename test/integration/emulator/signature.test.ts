import { request } from 'node:http';
import { describe, expect, it, jest } from '@jest/globals';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  CreateAccessKeyCommand,
  CreateRoleCommand,
  CreateUserCommand,
  IAMClient,
  ListUsersCommand,
} from '@aws-sdk/client-iam';
import { DescribeParametersCommand, SSMClient } from '@aws-sdk/client-ssm';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import { emulatorClientConfig, TEST_REGION, useEmulator } from '../../helpers/emulator.js';

/**
 * The emulator refuses what AWS refuses before any authorization: requests not signed with a
 * secret it knows (SigV4 computed again and compared), and, on its own control endpoints (which
 * take no credentials), what a web page in the operator's browser could send.
 */

jest.setTimeout(60_000);
const emulator = useEmulator();
const ACCOUNT = '123456789012';

/** A raw HTTP request, so Host, Origin and the body can be whatever a page or an attacker sends. */
function send(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; text: string; json: () => Record<string, string> }> {
  const url = new URL(emulator().url);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, method, path, headers, setHost: !('host' in headers) },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode!, text, json: () => JSON.parse(text) as Record<string, string> }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const JSON_TYPE = { 'content-type': 'application/json' };

describe('control endpoints refuse cross-site requests', () => {
  it.each([
    ['another site’s name (DNS rebinding)', 'attacker.example'],
    ['a name that only starts like localhost', 'localhost.attacker.example:80'],
  ])('refuses a Host of %s with 403', async (_, host) => {
    const reply = await send('POST', '/__emulator/faults', { ...JSON_TYPE, host }, '{}');
    expect(reply.status).toBe(403);
    expect(reply.json()).toMatchObject({ code: 'CrossSiteRequest', field: 'Host' });
  });

  it('refuses an Origin that is not the emulator’s own, on reads as well as writes', async () => {
    const port = new URL(emulator().url).port;
    for (const origin of [
      'https://attacker.example',
      'http://localhost:5173',
      'null',
      `https://127.0.0.1:${port}`,
    ]) {
      const write = await send('POST', '/__emulator/faults', { ...JSON_TYPE, origin }, '{}');
      expect({ origin, status: write.status, ...write.json() }).toMatchObject({
        origin,
        status: 403,
        code: 'CrossSiteRequest',
        field: 'Origin',
      });
      const read = await send('GET', '/__emulator/faults', { origin });
      expect(read.status).toBe(403);
    }
  });

  it.each(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', undefined])(
    'refuses a POST of Content-Type %s with 415 (what a page may post without a preflight)',
    async (type) => {
      const reply = await send('POST', '/__emulator/faults', type ? { 'content-type': type } : {}, '{}');
      expect(reply.status).toBe(415);
      expect(reply.json()).toMatchObject({ code: 'UnsupportedMediaType', field: 'Content-Type' });
    },
  );

  it('serves a well-formed request: local Host, no Origin or its own, JSON', async () => {
    const port = new URL(emulator().url).port;
    expect((await send('POST', '/__emulator/faults', JSON_TYPE, '{}')).status).toBe(200);
    const fromOwnPage = await send(
      'POST',
      '/__emulator/faults',
      {
        'content-type': 'application/json; charset=utf-8',
        host: `localhost:${port}`,
        origin: `http://localhost:${port}`,
      },
      '{}',
    );
    expect(fromOwnPage.status).toBe(200);
  });
});

const config = (credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }) => ({
  ...emulatorClientConfig(emulator()),
  credentials,
  maxAttempts: 1,
});
const ADMIN = { accessKeyId: 'testing', secretAccessKey: 'testing' };
const WRONG = { accessKeyId: 'testing', secretAccessKey: 'not-the-secret' };
const UNKNOWN = { accessKeyId: 'AKIAUNKNOWNKEY000000', secretAccessKey: 'whatever' };

/** An SSM DescribeParameters request signed with the admin's credentials, as the SDK signs it. */
async function signedSsmRequest(body: string) {
  const url = new URL(emulator().url);
  const signer = new SignatureV4({ credentials: ADMIN, region: TEST_REGION, service: 'ssm', sha256: Sha256 });
  return signer.sign({
    method: 'POST',
    protocol: 'http:',
    hostname: url.hostname,
    port: Number(url.port),
    path: '/',
    query: {},
    headers: {
      host: url.host,
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': 'AmazonSSM.DescribeParameters',
    },
    body,
  });
}

describe('requests must be signed with credentials the emulator knows', () => {
  it('refuses a wrong secret with each protocol’s signature error', async () => {
    await expect(new STSClient(config(WRONG)).send(new GetCallerIdentityCommand({}))).rejects.toMatchObject({
      name: 'SignatureDoesNotMatch',
      message: expect.stringContaining('does not match the signature you provided') as unknown,
      $metadata: { httpStatusCode: 403 },
    });
    await expect(new IAMClient(config(WRONG)).send(new ListUsersCommand({}))).rejects.toMatchObject({
      name: 'SignatureDoesNotMatch',
    });
    // The awsJson services answer the same refusal as InvalidSignatureException (400).
    await expect(new SSMClient(config(WRONG)).send(new DescribeParametersCommand({}))).rejects.toMatchObject({
      name: 'InvalidSignatureException',
      message: expect.stringContaining('does not match the signature you provided') as unknown,
      $metadata: { httpStatusCode: 400 },
    });
  });

  it('refuses a key id it never issued', async () => {
    await expect(new STSClient(config(UNKNOWN)).send(new GetCallerIdentityCommand({}))).rejects.toMatchObject(
      {
        name: 'InvalidClientTokenId',
      },
    );
    await expect(
      new SSMClient(config(UNKNOWN)).send(new DescribeParametersCommand({})),
    ).rejects.toMatchObject({
      name: 'UnrecognizedClientException',
    });
    await expect(new EC2Client(config(UNKNOWN)).send(new DescribeInstancesCommand({}))).rejects.toMatchObject(
      {
        name: 'AuthFailure',
      },
    );
    // A key that is not the admin's and looks like no AWS key is no admin either.
    const made = { accessKeyId: 'bench', secretAccessKey: 'bench' };
    await expect(new STSClient(config(made)).send(new GetCallerIdentityCommand({}))).rejects.toMatchObject({
      name: 'InvalidClientTokenId',
    });
  });

  it('refuses a body changed after signing, and serves it as signed', async () => {
    const signed = await signedSsmRequest('{"MaxResults":5}');
    const headers = signed.headers as Record<string, string>;
    const tampered = await send('POST', '/', headers, '{"MaxResults":6}');
    expect({ status: tampered.status, ...tampered.json() }).toMatchObject({
      status: 400,
      __type: 'InvalidSignatureException',
    });
    const intact = await send('POST', '/', headers, '{"MaxResults":5}');
    expect(intact.status).toBe(200);
  });

  it('refuses an unsigned request and one whose signature is incomplete', async () => {
    const target = {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': 'AmazonSSM.DescribeParameters',
    };
    const unsigned = await send('POST', '/', target, '{}');
    expect({ status: unsigned.status, ...unsigned.json() }).toMatchObject({
      status: 400,
      __type: 'MissingAuthenticationTokenException',
    });
    const signed = await signedSsmRequest('{}');
    const headers = signed.headers as Record<string, string>;
    const incomplete = await send(
      'POST',
      '/',
      { ...headers, authorization: headers.authorization!.replace(/, Signature=.*$/, '') },
      '{}',
    );
    expect(incomplete.json()).toMatchObject({ __type: 'IncompleteSignatureException' });
    const form = await send(
      'POST',
      '/',
      { 'content-type': 'application/x-www-form-urlencoded' },
      'Action=ListUsers',
    );
    expect(form.status).toBe(403);
    expect(form.text).toContain('<Code>MissingAuthenticationToken</Code>');
  });

  it('serves an IAM user’s own key and a role session the emulator issued, each as itself', async () => {
    const iam = new IAMClient(config(ADMIN));
    await iam.send(new CreateUserCommand({ UserName: 'signer' }));
    const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: 'signer' }));
    const userKey = { accessKeyId: AccessKey!.AccessKeyId!, secretAccessKey: AccessKey!.SecretAccessKey! };
    const asUser = await new STSClient(config(userKey)).send(new GetCallerIdentityCommand({}));
    expect(asUser.Arn).toBe(`arn:aws:iam::${ACCOUNT}:user/signer`);
    await expect(
      new STSClient(config({ ...userKey, secretAccessKey: 'guessed' })).send(
        new GetCallerIdentityCommand({}),
      ),
    ).rejects.toMatchObject({ name: 'SignatureDoesNotMatch' });

    await iam.send(
      new CreateRoleCommand({
        RoleName: 'signer-role',
        AssumeRolePolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
          ],
        }),
      }),
    );
    const issued = await send(
      'POST',
      '/__emulator/assume-role-for-service',
      JSON_TYPE,
      JSON.stringify({
        roleArn: `arn:aws:iam::${ACCOUNT}:role/signer-role`,
        service: 'lambda.amazonaws.com',
        sessionName: 'signed',
      }),
    );
    expect(issued.status).toBe(200);
    const { accessKeyId, secretAccessKey, sessionToken } = issued.json();
    const session = {
      accessKeyId: accessKeyId!,
      secretAccessKey: secretAccessKey!,
      sessionToken: sessionToken!,
    };
    const asRole = await new STSClient(config(session)).send(new GetCallerIdentityCommand({}));
    expect(asRole.Arn).toBe(`arn:aws:sts::${ACCOUNT}:assumed-role/signer-role/signed`);
    await expect(
      new SSMClient(config({ ...session, secretAccessKey: 'guessed' })).send(
        new DescribeParametersCommand({}),
      ),
    ).rejects.toMatchObject({ name: 'InvalidSignatureException' });
  });
});
