import { describe, expect, it } from '@jest/globals';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { LambdaService } from '../../../local/runner/lambda-service.js';
import { INTERNAL_SERVER_ERROR, routeFunctions } from '../../../local/serve/route-functions.js';

/** A Lambda service whose every function answers with `answer`. */
function lambdaAnswering(answer: () => Promise<unknown>) {
  const invoked: string[] = [];
  const lambda = {
    resolveHandler: async (bundle: string) => {
      invoked.push(bundle);
      return answer;
    },
  } as unknown as LambdaService;
  return { lambda, invoked };
}

const event = { requestContext: { requestId: 'r-1' } } as APIGatewayProxyEvent;

describe('the API routes as API Gateway’s Lambda proxy integration runs them', () => {
  it('invokes the route’s bundle and answers its proxy result', async () => {
    const reply = { statusCode: 201, headers: { 'content-type': 'application/json' }, body: '{"ok":true}' };
    const { lambda, invoked } = lambdaAnswering(async () => reply);
    await expect(routeFunctions(lambda)({ folder: 'create-lab' }, event)).resolves.toEqual(reply);
    expect(invoked).toEqual(['api-create-lab']);
  });

  it('answers 502 Internal server error for a function error, a timeout or a reply that is not a proxy result', async () => {
    const lines: string[] = [];
    for (const answer of [
      async () => {
        throw Object.assign(new Error('boom'), { name: 'Sandbox.Timedout' });
      },
      async () => ({ status: 200 }),
      async () => ({ statusCode: 200, body: { not: 'a string' } }),
    ]) {
      const { lambda } = lambdaAnswering(answer);
      await expect(
        routeFunctions(lambda, (l) => lines.push(l))({ folder: 'get-lab' }, event),
      ).resolves.toEqual(INTERNAL_SERVER_ERROR);
    }
    expect(JSON.parse(INTERNAL_SERVER_ERROR.body)).toEqual({ message: 'Internal server error' });
    expect(lines[0]).toMatch(/api-get-lab: Sandbox.Timedout: boom/);
  });
});
