import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  GetParameterCommand,
  SendCommandCommand,
  SSMClient,
  UpdateServiceSettingCommand,
} from '@aws-sdk/client-ssm';
import { GetRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import {
  awsClient,
  clientConfig,
  clientsFor,
  labClients,
  resetClients,
  OUTCOME_UNKNOWN,
  sentAtMostOnce,
} from '../../../functions/shared/clients.js';
import { ConfigurationError } from '../../../functions/shared/errors.js';
import { withDeadline } from '../../../functions/shared/retries.js';
import { useLocalEndpoint } from '../../helpers/local-endpoint.js';
import { RetryWaits } from '../../helpers/retry-waits.js';

describe('clientConfig', () => {
  it('takes the region from the environment and asks for adaptive retries', () => {
    expect(clientConfig({ AWS_REGION: 'eu-west-1' })).toEqual({
      region: 'eu-west-1',
      retryMode: 'adaptive',
      maxAttempts: 8,
    });
  });

  it('falls back to AWS_DEFAULT_REGION', () => {
    expect(clientConfig({ AWS_DEFAULT_REGION: 'us-west-2' }).region).toBe('us-west-2');
  });

  it('refuses to guess a region', () => {
    expect(() => clientConfig({})).toThrow(ConfigurationError);
    expect(() => clientConfig({})).toThrow(/AWS_REGION/);
  });

  it('rejects a malformed attempt count, naming the variable', () => {
    expect(() => clientConfig({ AWS_REGION: 'us-east-1', SESSION_LAB_MAX_ATTEMPTS: 'lots' })).toThrow(
      /SESSION_LAB_MAX_ATTEMPTS/,
    );
  });
});

describe('awsClient', () => {
  const saved = { ...process.env };
  beforeEach(() => {
    resetClients();
    process.env.AWS_REGION = 'us-east-1';
  });
  afterAll(() => {
    process.env = saved;
    resetClients();
  });

  it('reuses one client per class across calls (warm invocations)', () => {
    expect(awsClient(SSMClient)).toBe(awsClient(SSMClient));
    expect(awsClient(IAMClient)).not.toBe(awsClient(SSMClient) as unknown);
  });

  it('configures the client with the region and adaptive retry mode', async () => {
    const ssm = awsClient(SSMClient);
    expect(await ssm.config.region()).toBe('us-east-1');
    expect(await ssm.config.retryStrategy()).toHaveProperty('mode', 'adaptive');
  });

  it('reaches the endpoint named by AWS_ENDPOINT_URL (how the code finds the local emulator)', async () => {
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(String(req.headers['x-amz-target']));
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify({ Parameter: { Name: '/p', Value: 'v' } }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    process.env.AWS_ENDPOINT_URL = `http://127.0.0.1:${port}`;
    process.env.AWS_ACCESS_KEY_ID = 'test';
    process.env.AWS_SECRET_ACCESS_KEY = 'test';
    try {
      const out = await awsClient(SSMClient).send(new GetParameterCommand({ Name: '/p' }));
      expect(out.Parameter?.Value).toBe('v');
      expect(seen).toEqual(['AmazonSSM.GetParameter']);
    } finally {
      delete process.env.AWS_ENDPOINT_URL;
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('labClients builds only the clients a caller touches, from the same cache', () => {
    const clients = labClients();
    expect(clients.ssm).toBe(awsClient(SSMClient));
    expect(clients.iam).toBeInstanceOf(IAMClient);
  });

  it('clientsFor holds only the clients it is given, from the same cache as awsClient', () => {
    const clients = clientsFor({ ssm: SSMClient, iam: IAMClient });
    expect(Object.keys(clients).sort()).toEqual(['iam', 'ssm']);
    expect(clients.ssm).toBe(awsClient(SSMClient));
    expect(clients.iam).toBe(labClients().iam);
  });

  it('does not retry IAM’s LimitExceeded (a quota, not throttling), but still retries its Throttling', async () => {
    const answers: string[] = [];
    const server = createServer((req, res) => {
      const code = answers.shift() ?? 'ok';
      res.writeHead(code === 'ok' ? 200 : code === 'Throttling' ? 400 : 409, { 'content-type': 'text/xml' });
      res.end(
        code === 'ok'
          ? '<GetRoleResponse><GetRoleResult><Role><RoleName>r</RoleName></Role></GetRoleResult></GetRoleResponse>'
          : `<ErrorResponse><Error><Type>Sender</Type><Code>${code}</Code><Message>${code}</Message></Error></ErrorResponse>`,
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    });
    try {
      const iam = awsClient(IAMClient);
      answers.push('LimitExceeded');
      const refused = await iam.send(new GetRoleCommand({ RoleName: 'r' })).catch((err: unknown) => err);
      expect(refused).toMatchObject({ name: 'LimitExceededException', $metadata: { attempts: 1 } });
      answers.push('Throttling');
      const retried = await iam.send(new GetRoleCommand({ RoleName: 'r' }));
      expect(retried.$metadata.attempts).toBe(2);
    } finally {
      delete process.env.AWS_ENDPOINT_URL;
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('does not retry SSM’s TooManyUpdates (a setting change pending for minutes), but still retries ThrottlingException', async () => {
    const answers: string[] = [];
    const server = createServer((req, res) => {
      const code = answers.shift() ?? 'ok';
      if (code === 'ok') {
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
        res.end('{}');
        return;
      }
      res.writeHead(code === 'TooManyUpdates' ? 429 : 400, {
        'content-type': 'application/x-amz-json-1.1',
        'x-amzn-errortype': code,
      });
      res.end(JSON.stringify({ __type: code, message: code }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    });
    try {
      const ssm = awsClient(SSMClient);
      const update = () =>
        ssm.send(new UpdateServiceSettingCommand({ SettingId: 'arn:tier', SettingValue: 'advanced' }));
      answers.push('TooManyUpdates');
      const refused = await update().catch((err: unknown) => err);
      expect(refused).toMatchObject({ name: 'TooManyUpdates', $metadata: { attempts: 1 } });
      answers.push('ThrottlingException');
      expect((await update()).$metadata.attempts).toBe(2);
    } finally {
      delete process.env.AWS_ENDPOINT_URL;
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('sends a call marked sentAtMostOnce once after a lost answer (OutcomeUnknown), but retries its throttling', async () => {
    const answers: number[] = [];
    let requests = 0;
    const server = createServer((req, res) => {
      requests += 1;
      const status = answers.shift() ?? 200;
      res.writeHead(status, {
        'content-type': 'application/x-amz-json-1.1',
        ...(status === 200
          ? {}
          : { 'x-amzn-errortype': status === 400 ? 'ThrottlingException' : 'InternalServerError' }),
      });
      res.end(status === 200 ? JSON.stringify({ Command: { CommandId: 'c-1' } }) : '{"message":"x"}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    });
    const send = () =>
      awsClient(SSMClient).send(
        sentAtMostOnce(new SendCommandCommand({ DocumentName: 'AWS-RunShellScript', InstanceIds: ['i-1'] })),
      );
    try {
      answers.push(500);
      await expect(send()).rejects.toMatchObject({ name: OUTCOME_UNKNOWN });
      expect(requests).toBe(1);
      answers.push(400);
      await expect(send()).resolves.toMatchObject({ Command: { CommandId: 'c-1' } });
      expect(requests).toBe(3);
      // Unmarked, the same call is retried after a 500.
      answers.push(500);
      await awsClient(SSMClient).send(new SendCommandCommand({ DocumentName: 'AWS-RunShellScript' }));
      expect(requests).toBe(5);
    } finally {
      delete process.env.AWS_ENDPOINT_URL;
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('awsClient retries under withDeadline (a Lambda invocation’s deadline)', () => {
  // An SSM endpoint failing the next `failures.count` requests (with its status and type), then answering.
  const failures = { count: 0, status: 400, type: 'ThrottlingException' };
  let requests = 0;
  const fail = (count: number, status = 400, type = 'ThrottlingException') =>
    Object.assign(failures, { count, status, type });
  const getParameter = () => awsClient(SSMClient).send(new GetParameterCommand({ Name: '/p' }));
  const waits = new RetryWaits();
  useLocalEndpoint((req, res) => {
    requests += 1;
    const failed = failures.count > 0;
    if (failed) failures.count -= 1;
    res.writeHead(failed ? failures.status : 200, { 'content-type': 'application/x-amz-json-1.1' });
    res.end(JSON.stringify(failed ? { __type: failures.type, message: failures.type } : {}));
  }, waits);
  // The margin is 5 s for a function of up to 50 s: this deadline leaves `ms` before the cutoff.
  const cutoffIn = (ms: number) => Date.now() + 5_000 + ms;

  beforeEach(() => {
    // A fresh client each time: a throttled one's adaptive limiter makes its next call wait ~2 s.
    resetClients();
    requests = 0;
    fail(0);
  });

  it('throws the throttling error at once when the cutoff has passed', async () => {
    fail(Infinity);
    await waits.track(awsClient(SSMClient));
    const refused = await withDeadline(cutoffIn(-1_000), getParameter).catch((err: unknown) => err);
    expect(refused).toMatchObject({ name: 'ThrottlingException', $metadata: { attempts: 1 } });
    expect(requests).toBe(1);
  });

  it('cuts a back-off that would end past the cutoff short at the cutoff, before maxAttempts', async () => {
    fail(Infinity);
    await waits.track(awsClient(SSMClient));
    const started = Date.now();
    // The back-off is random up to 1 s, then 2 s, ...; plus up to 2 s for the adaptive limiter.
    const refused = await withDeadline(cutoffIn(100), getParameter).catch((err: unknown) => err);
    expect(refused).toMatchObject({ name: 'ThrottlingException', $metadata: { attempts: requests } });
    expect(requests).toBeLessThan(8);
    expect(Date.now() - started).toBeLessThan(600);
  });

  it('retries as before with a far deadline, and outside any deadline after a refusal', async () => {
    // Server errors back off for 50-200 ms rather than throttling's seconds; the guard is the same.
    fail(3, 503, 'InternalServerError');
    expect((await withDeadline(Date.now() + 900_000, getParameter)).$metadata.attempts).toBe(4);
    fail(3, 503, 'InternalServerError');
    await expect(withDeadline(cutoffIn(-1_000), getParameter)).rejects.toMatchObject({
      $metadata: { attempts: 1 },
    });
    // The same client, its strategy cached: the refusal's cutoff stayed in its scope.
    fail(3, 503, 'InternalServerError');
    expect((await getParameter()).$metadata.attempts).toBe(4);
  });
});
