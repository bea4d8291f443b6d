import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { ApiRouteSpec } from '../../functions/api/routes.js';
import type { LambdaService } from '../runner/lambda-service.js';

/**
 * The portal API's routes as API Gateway's Lambda proxy integration runs them: the route's deployed
 * bundle (`api-<folder>`), invoked through the local Lambda service with the environment, timeout
 * and role its template declares, handed the proxy event; its `{statusCode, headers, body}` is the
 * answer. A function error, a timeout or a reply that is not a proxy result is what API Gateway
 * answers then: 502 `{"message": "Internal server error"}`.
 */

export type RouteInvoker = (
  spec: Pick<ApiRouteSpec, 'folder'>,
  event: APIGatewayProxyEvent,
) => Promise<APIGatewayProxyResult>;

export const INTERNAL_SERVER_ERROR: APIGatewayProxyResult = {
  statusCode: 502,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ message: 'Internal server error' }),
};

/** Whether a function's reply is a proxy result API Gateway can send (else it answers 502). */
function isProxyResult(reply: unknown): reply is APIGatewayProxyResult {
  const result = reply as Partial<APIGatewayProxyResult> | null;
  return (
    typeof result === 'object' &&
    result !== null &&
    Number.isInteger(result.statusCode) &&
    (result.body === undefined || typeof result.body === 'string') &&
    (result.headers === undefined || (typeof result.headers === 'object' && result.headers !== null))
  );
}

/** Invokes each route's bundle through `lambda`; `log` learns why a request answered 502. */
export function routeFunctions(lambda: LambdaService, log?: (line: string) => void): RouteInvoker {
  return async (spec, event) => {
    const bundle = `api-${spec.folder}`;
    try {
      const handler = await lambda.resolveHandler(bundle);
      // The Lambda service builds the function's context from its template; the request id is the
      // one thing the caller's side chooses (API Gateway passes its own).
      const reply = await handler(event, { awsRequestId: event.requestContext.requestId } as Context);
      if (isProxyResult(reply)) return { ...reply, body: reply.body ?? '' };
      log?.(`${bundle}: not a Lambda proxy result: ${JSON.stringify(reply)?.slice(0, 200)}`);
    } catch (err) {
      log?.(`${bundle}: ${(err as Error).name}: ${(err as Error).message}`);
    }
    return INTERNAL_SERVER_ERROR;
  };
}
