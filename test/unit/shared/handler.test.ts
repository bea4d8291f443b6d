import { jest } from '@jest/globals';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { z } from 'zod';
import type { Context } from 'aws-lambda';
import { awsClient } from '../../../functions/shared/clients.js';
import { labHandler } from '../../../functions/shared/handler.js';
import { readEnv } from '../../../functions/shared/env.js';
import { labIdSchema } from '../../../functions/shared/names.js';
import { useLocalEndpoint } from '../../helpers/local-endpoint.js';
import { RetryWaits } from '../../helpers/retry-waits.js';

const context = {
  functionName: 'session-lab-test',
  awsRequestId: 'req-1',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:session-lab-test',
  memoryLimitInMB: '128',
  functionVersion: '$LATEST',
  getRemainingTimeInMillis: () => 1000,
} as unknown as Context;

describe('labHandler', () => {
  const schema = z.object({ labId: labIdSchema, count: z.number().int().min(1).default(1) }).strict();

  it('passes the parsed input (defaults applied) to the task and returns its result', async () => {
    const handler = labHandler(schema, async (input) => ({ echoed: input }));
    await expect(handler({ labId: 'demo' }, context)).resolves.toEqual({
      echoed: { labId: 'demo', count: 1 },
    });
  });

  it('refuses bad input with InvalidLabInput naming the field, before the task runs', async () => {
    const task = jest.fn(async () => 'never');
    const handler = labHandler(schema, task);
    await expect(handler({ labId: 'NO' }, context)).rejects.toMatchObject({
      name: 'InvalidLabInput',
      field: 'labId',
    });
    await expect(handler({ labId: 'demo', count: 0 }, context)).rejects.toThrow(/^count:/);
    await expect(handler({ labId: 'demo', extra: 1 }, context)).rejects.toMatchObject({ field: 'extra' });
    expect(task).not.toHaveBeenCalled();
  });

  it("lets the task's own error reach Step Functions with its name", async () => {
    const handler = labHandler(schema, async () => {
      throw Object.assign(new Error('pending'), { name: 'NotReadyYet' });
    });
    await expect(handler({ labId: 'demo' }, context)).rejects.toMatchObject({ name: 'NotReadyYet' });
  });

  it.each([['RequestLimitExceeded'], ['Throttling'], ['ThrottlingException']])(
    'turns %s the SDK could not absorb into Throttled for the workflow to retry',
    async (name) => {
      const throttled = Object.assign(new Error('Rate exceeded'), { name });
      const handler = labHandler(schema, async () => {
        throw throttled;
      });
      const err = await handler({ labId: 'demo' }, context).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'Throttled', cause: throttled });
      expect((err as Error).message).toMatch(new RegExp(name));
    },
  );

  it('untilReady: a poll’s "not yet" becomes NotReadyYet naming what it waits for; ready passes', async () => {
    let ready = false;
    const handler = labHandler(schema, async () => ({ ready, pending: ready ? [] : ['DevOnPrem'] }), {
      untilReady: true,
    });
    await expect(handler({ labId: 'demo' }, context)).rejects.toMatchObject({
      name: 'NotReadyYet',
      message: 'not ready yet: {"pending":["DevOnPrem"]}',
    });
    ready = true;
    await expect(handler({ labId: 'demo' }, context)).resolves.toEqual({ ready: true, pending: [] });
  });

  it('leaves other AWS errors as they are', async () => {
    const handler = labHandler(schema, async () => {
      throw Object.assign(new Error('nope'), { name: 'AccessDeniedException' });
    });
    await expect(handler({ labId: 'demo' }, context)).rejects.toMatchObject({
      name: 'AccessDeniedException',
    });
  });
});

describe('labHandler under throttling near the Lambda deadline', () => {
  const waits = new RetryWaits();
  // An SSM endpoint that always throttles.
  useLocalEndpoint((req, res) => {
    res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1' });
    res.end(JSON.stringify({ __type: 'ThrottlingException', message: 'Rate exceeded' }));
  }, waits);
  it('stops the SDK retrying before the deadline, so the task fails with Throttled, not a timeout', async () => {
    // 5.2 s left: the retry cutoff (5 s margin) is 200 ms away, the SDK's throttling back-offs
    // (seconds each, 8 attempts) would run into middy's timeout, as the Lambda's would.
    const end = Date.now() + 5_200;
    await waits.track(awsClient(SSMClient));
    const lambda = { ...context, getRemainingTimeInMillis: () => end - Date.now() } as Context;
    const handler = labHandler(z.object({ labId: labIdSchema }), () =>
      awsClient(SSMClient).send(new GetParameterCommand({ Name: '/p' })),
    );
    const err = await handler({ labId: 'demo' }, lambda).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'Throttled', cause: { name: 'ThrottlingException' } });
    expect((err as { cause: { $metadata: { attempts: number } } }).cause.$metadata.attempts).toBeLessThan(8);
    expect(Date.now()).toBeLessThan(end - 4_000);
  });
});

describe('readEnv', () => {
  const schema = z.object({ TABLE_NAME: z.string().min(1) });

  it('returns the validated environment', () => {
    expect(readEnv(schema, { TABLE_NAME: 'labs' })).toEqual({ TABLE_NAME: 'labs' });
  });

  it('names the missing variable', () => {
    expect(() => readEnv(schema, {})).toThrow(/TABLE_NAME/);
  });
});
