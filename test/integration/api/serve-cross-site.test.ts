import { request } from 'node:http';
import { jest } from '@jest/globals';
import { localCaller } from '../../../local/serve/http-server.js';
import { startServing, type HostingServing } from '../../../local/serve/serve.js';
import { useEmulator } from '../../helpers/emulator.js';

/**
 * `session-lab serve` trusts only the local user and signs nothing, so what a web page in that
 * user's browser can send must be refused: another site's Host (DNS rebinding), a foreign Origin,
 * and bodies a page may post without a CORS preflight. Against the emulator's registry, with a
 * stand-in for the workflows (nothing is provisioned).
 */

const emulator = useEmulator();
jest.setTimeout(120_000);

let serving: HostingServing;
const started: string[] = [];
beforeAll(async () => {
  serving = await startServing({
    port: 0,
    emulator: emulator(),
    run: async (name, _input, executionName) => {
      started.push(`${name} ${executionName}`);
      return { status: 'SUCCEEDED' };
    },
  });
});
afterAll(async () => {
  await serving?.starter.idle();
  await serving?.stop();
});

/** A raw HTTP request, so Host and Origin can be whatever a browser or an attacker sends. */
function send(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const url = new URL(serving.url);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, method, path, headers, setHost: !('host' in headers) },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode!, body: JSON.parse(text) as Record<string, unknown> }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const JSON_TYPE = { 'content-type': 'application/json' };
const labBody = (labId: string) => JSON.stringify({ labId });

describe('session-lab serve refuses cross-site requests', () => {
  it.each([
    ['another site’s name (DNS rebinding)', { host: 'attacker.example' }],
    ['another site’s name with the port', { host: 'attacker.example:8080' }],
    ['a name that only starts like localhost', { host: 'localhost.attacker.example' }],
  ])('refuses a Host of %s with 403, creating nothing', async (_, headers) => {
    const reply = await send('POST', '/labs', { ...JSON_TYPE, ...headers }, labBody('xs-host'));
    expect(reply).toMatchObject({ status: 403, body: { code: 'CrossSiteRequest', field: 'Host' } });
    expect(await serving.registry.labs.getLab('xs-host')).toBeUndefined();
  });

  it.each([
    ['another site', 'https://attacker.example'],
    ['a look-alike of localhost', 'http://localhost.attacker.example:3000'],
    ['an opaque origin (sandboxed frame, file:)', 'null'],
  ])('refuses an Origin of %s with 403, on reads as well as writes', async (_, origin) => {
    const write = await send('POST', '/labs', { ...JSON_TYPE, origin }, labBody('xs-origin'));
    expect(write).toMatchObject({ status: 403, body: { code: 'CrossSiteRequest', field: 'Origin' } });
    const remove = await send('DELETE', '/labs/xs-origin', { origin });
    expect(remove).toMatchObject({ status: 403, body: { field: 'Origin' } });
    const read = await send('GET', '/labs', { origin });
    expect(read).toMatchObject({ status: 403, body: { field: 'Origin' } });
    expect(await serving.registry.labs.getLab('xs-origin')).toBeUndefined();
  });

  it.each(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', undefined])(
    'refuses a body of Content-Type %s with 415 (what a page may post without a preflight)',
    async (type) => {
      const headers: Record<string, string> = type ? { 'content-type': type } : {};
      const reply = await send('POST', '/labs', headers, labBody('xs-type'));
      expect(reply).toMatchObject({
        status: 415,
        body: { code: 'UnsupportedMediaType', field: 'Content-Type' },
      });
      expect(await serving.registry.labs.getLab('xs-type')).toBeUndefined();
    },
  );

  it('serves the local user: no Origin or a localhost one, a local Host, JSON bodies; records who asked', async () => {
    const created = await send('POST', '/labs', { ...JSON_TYPE }, labBody('xs-ok'));
    expect(created).toMatchObject({ status: 202, body: { labId: 'xs-ok' } });
    const fromPage = await send(
      'POST',
      '/labs',
      {
        'content-type': 'application/json; charset=utf-8',
        origin: 'http://localhost:5173',
        host: 'localhost',
      },
      labBody('xs-ok-2'),
    );
    expect(fromPage).toMatchObject({ status: 202 });
    // A request without a body needs no content type.
    const shown = await send('GET', '/labs/xs-ok', { origin: 'http://127.0.0.1:3000' });
    expect(shown).toMatchObject({ status: 200, body: { labId: 'xs-ok', requestedBy: localCaller() } });
    expect(localCaller()).toMatch(/^local-user\/.+/);
    await serving.starter.idle();
    expect(started.some((run) => run.startsWith('provision-lab xs-ok-'))).toBe(true);
  });
});
