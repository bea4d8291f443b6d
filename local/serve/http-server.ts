import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { userInfo } from 'node:os';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { API_ROUTES, type ApiRouteSpec } from '../../functions/api/routes.js';
import { ApiError, MAX_BODY_BYTES, errorResult } from '../../functions/shared/api.js';
import { crossSiteRefusal } from '../cross-site.js';
import type { RouteInvoker } from './route-functions.js';

export interface ApiServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

interface Match {
  spec: ApiRouteSpec;
  pathParameters: Record<string, string> | null;
}

/** A path segment as API Gateway passes it (percent-decoded); a malformed one as it came, for the route to refuse. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** The route for a method and path, a 405 when only the method is wrong, or a 404. */
function matchRoute(routes: readonly ApiRouteSpec[], method: string, path: string): Match | ApiError {
  const segments = path.split('/').filter(Boolean);
  let pathMatched = false;
  for (const spec of routes) {
    const template = spec.resource.split('/').filter(Boolean);
    if (template.length !== segments.length) continue;
    const parameters: Record<string, string> = {};
    const matches = template.every((part, i) => {
      const name = /^\{(\w+)\}$/.exec(part)?.[1];
      if (name) {
        parameters[name] = decodeSegment(segments[i]!);
        return true;
      }
      return part === segments[i];
    });
    if (!matches) continue;
    pathMatched = true;
    if (spec.method === method) {
      return { spec, pathParameters: Object.keys(parameters).length ? parameters : null };
    }
  }
  return pathMatched
    ? new ApiError(405, 'MethodNotAllowed', `${method} is not allowed on ${path}`)
    : new ApiError(404, 'NotFound', `no route for ${method} ${path}`);
}

/** Reads the body up to the API's limit; past it the rest is discarded and `tooLarge` set. */
async function readBody(req: IncomingMessage): Promise<{ body: string; tooLarge: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) tooLarge = true;
    else chunks.push(chunk as Buffer);
  }
  return { body: Buffer.concat(chunks).toString('utf8'), tooLarge };
}

function headersOf(req: IncomingMessage) {
  const headers: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!;
    const value = req.rawHeaders[i + 1]!;
    headers[name] = value;
    (multi[name] ??= []).push(value);
  }
  return { headers, multi };
}

/**
 * Who asks locally: `serve` listens on 127.0.0.1 and trusts only the local user, so every request
 * is that user's, reported where API Gateway's IAM authorization reports the signed caller.
 */
export function localCaller(): string {
  let name: string;
  try {
    name = userInfo().username;
  } catch {
    name = process.env.USER ?? 'unknown';
  }
  return `local-user/${name}`;
}

/**
 * The API Gateway REST proxy event for a request, as the deployed API hands it to the route's
 * function; the caller identity is the local user's (`localCaller`: no SigV4 locally).
 */
export function toProxyEvent(
  req: IncomingMessage,
  url: URL,
  match: Match,
  body: string,
  caller: string = localCaller(),
): APIGatewayProxyEvent {
  const { headers, multi } = headersOf(req);
  const query: Record<string, string> = {};
  const multiQuery: Record<string, string[]> = {};
  for (const [name, value] of url.searchParams) {
    query[name] = value;
    (multiQuery[name] ??= []).push(value);
  }
  const hasQuery = Object.keys(query).length > 0;
  const method = req.method ?? 'GET';
  return {
    resource: match.spec.resource,
    path: url.pathname,
    httpMethod: method,
    headers,
    multiValueHeaders: multi,
    queryStringParameters: hasQuery ? query : null,
    multiValueQueryStringParameters: hasQuery ? multiQuery : null,
    pathParameters: match.pathParameters,
    stageVariables: null,
    body: body === '' ? null : body,
    isBase64Encoded: false,
    requestContext: {
      accountId: '123456789012',
      apiId: 'local',
      authorizer: undefined,
      protocol: `HTTP/${req.httpVersion}`,
      httpMethod: method,
      path: url.pathname,
      stage: 'local',
      requestId: randomUUID(),
      requestTimeEpoch: Date.now(),
      resourceId: 'local',
      resourcePath: match.spec.resource,
      identity: {
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? headers['User-Agent'] ?? null,
        userArn: caller,
        user: caller,
        caller,
        accountId: null,
        accessKey: null,
        apiKey: null,
        apiKeyId: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        clientCert: null,
      },
    },
  } as APIGatewayProxyEvent;
}

/**
 * A cross-site request refused (local/cross-site.ts): `serve` trusts only the local user and signs
 * nothing, so a page of any site could otherwise create or delete labs. Local pages of any port
 * may call it.
 */
export function crossSiteApiRefusal(req: IncomingMessage, hasBody: boolean): ApiError | undefined {
  const refusal = crossSiteRefusal(req.headers, { jsonRequired: hasBody });
  return refusal && new ApiError(refusal.status, refusal.code, refusal.message, refusal.field);
}

function send(res: ServerResponse, result: APIGatewayProxyResult): void {
  res.writeHead(result.statusCode, result.headers as Record<string, string>);
  res.end(result.body);
}

/**
 * Serves the portal API over HTTP on 127.0.0.1 (never another interface: no SigV4 locally), each
 * request translated into the API Gateway proxy event the deployed route function receives, as the
 * local user, and answered by `invoke` (route-functions.ts: the route's deployed bundle).
 * Cross-site requests are refused first (`crossSiteApiRefusal`). Port 0 picks a free port.
 */
export async function startApiServer(
  invoke: RouteInvoker,
  options: { port?: number; routes?: readonly ApiRouteSpec[]; log?: (line: string) => void } = {},
): Promise<ApiServer> {
  const routes = options.routes ?? API_ROUTES;
  const server: Server = createServer((req, res) => {
    void (async () => {
      const started = Date.now();
      let status = 500;
      try {
        const { body, tooLarge } = await readBody(req);
        const url = new URL(req.url ?? '/', 'http://127.0.0.1');
        let result: APIGatewayProxyResult;
        const match = matchRoute(routes, req.method ?? 'GET', url.pathname);
        const refusal = crossSiteApiRefusal(req, body.trim() !== '' || tooLarge);
        if (refusal) result = errorResult(refusal);
        else if (match instanceof ApiError) result = errorResult(match);
        else if (tooLarge)
          result = errorResult(
            new ApiError(400, 'InvalidRequest', `body: larger than ${MAX_BODY_BYTES} bytes`, 'body'),
          );
        else result = await invoke(match.spec, toProxyEvent(req, url, match, body));
        status = result.statusCode;
        send(res, result);
      } catch (err) {
        send(res, errorResult(new ApiError(400, 'InvalidRequest', `request: ${(err as Error).message}`)));
        status = 400;
      } finally {
        options.log?.(`${req.method} ${req.url} ${status} ${Date.now() - started}ms`);
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
