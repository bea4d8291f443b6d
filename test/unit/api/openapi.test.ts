import { readFileSync } from 'node:fs';
import type { APIGatewayProxyResult, Context } from 'aws-lambda';
import { parse } from 'yaml';
import { API_ROUTES } from '../../../functions/api/routes.js';
import { apiHandler } from '../../../functions/shared/api.js';
import { ConfigurationError } from '../../../functions/shared/errors.js';
import { labInputSchema } from '../../../functions/shared/lab-config.js';
import { pascalCase } from '../../../local/runner/definitions.js';
import { apiEvent } from '../../helpers/registry.js';

interface Operation {
  operationId: string;
  responses: Record<string, unknown>;
  'x-amazon-apigateway-integration': { type: string; uri: string; httpMethod: string };
}
const spec = parse(readFileSync(new URL('../../../functions/api/openapi.yaml', import.meta.url), 'utf8')) as {
  openapi: string;
  security: Record<string, string[]>[];
  paths: Record<string, Record<string, Operation | unknown>>;
  components: {
    securitySchemes: Record<string, Record<string, string>>;
    schemas: Record<string, { properties?: Record<string, unknown> }>;
  };
};
const METHODS = ['get', 'post', 'put', 'delete', 'patch'];

describe('openapi.yaml', () => {
  it('describes exactly the routes the functions serve', () => {
    const described = Object.entries(spec.paths).flatMap(([path, item]) =>
      Object.keys(item)
        .filter((key) => METHODS.includes(key))
        .map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(described.sort()).toEqual(API_ROUTES.map((r) => `${r.method} ${r.resource}`).sort());
  });

  it('integrates each route with its own function through a placeholder, as Lambda proxy', () => {
    for (const route of API_ROUTES) {
      const operation = spec.paths[route.resource]![route.method.toLowerCase()] as Operation;
      expect(operation['x-amazon-apigateway-integration']).toEqual({
        type: 'aws_proxy',
        httpMethod: 'POST',
        uri: `arn:\${AWS::Partition}:apigateway:\${AWS::Region}:lambda:path/2015-03-31/functions/\${Api${pascalCase(route.folder)}FunctionArn}/invocations`,
      });
      expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining(['400', '500']));
    }
  });

  it('requires SigV4 (IAM) on every operation', () => {
    expect(spec.openapi).toMatch(/^3\.0\./);
    expect(spec.security).toEqual([{ sigv4: [] }]);
    expect(spec.components.securitySchemes.sigv4).toMatchObject({
      type: 'apiKey',
      name: 'Authorization',
      in: 'header',
      'x-amazon-apigateway-authtype': 'awsSigv4',
    });
  });

  it('documents every lab option the provision input accepts, and no other', () => {
    const documented = Object.keys(spec.components.schemas.LabOptions!.properties!).sort();
    const accepted = Object.keys(labInputSchema.shape)
      .filter((field) => field !== 'labId')
      .sort();
    expect(documented).toEqual(accepted);
  });
});

describe('apiHandler', () => {
  const context = { functionName: 'api', awsRequestId: 'r1' } as unknown as Context;

  it('answers a missing deployment setting as a JSON 500 naming no secret, on every request', async () => {
    const handler = apiHandler(
      async () => ({ statusCode: 200, body: {} }),
      () => {
        throw new ConfigurationError('REGISTRY_TABLE', 'REGISTRY_TABLE: Required');
      },
    );
    const result = (await handler(
      apiEvent({ method: 'GET', resource: '/labs' }),
      context,
    )) as APIGatewayProxyResult;
    expect(result.statusCode).toBe(500);
    expect(JSON.parse(result.body)).toEqual({
      code: 'ConfigurationError',
      message: 'the API is not configured',
    });
  });

  it('runs the route with the dependencies built once', async () => {
    let built = 0;
    const handler = apiHandler(
      async () => ({ statusCode: 200, body: { ok: true } }),
      () => {
        built++;
        return {} as never;
      },
    );
    await handler(apiEvent({ method: 'GET', resource: '/labs' }), context);
    const result = (await handler(
      apiEvent({ method: 'GET', resource: '/labs' }),
      context,
    )) as APIGatewayProxyResult;
    expect(result).toMatchObject({ statusCode: 200, headers: { 'content-type': 'application/json' } });
    expect(built).toBe(1);
  });
});
