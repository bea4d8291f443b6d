import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { crossSiteRefusal, ownOrigin } from '../cross-site.js';
import { guarded, refuseUnparsed } from './authorization/enforce.js';
import { signatureRefusal } from './authorization/signature.js';
import { serializeDynamoDb } from './dynamodb-serial.js';
import type { FaultInjector } from './faults.js';
import type { Traffic } from './traffic.js';
import type { Clock } from './time.js';
import {
  ACCOUNT_ID,
  EMULATOR_CREDENTIALS,
  type ControlHandler,
  type EmulatorContext,
  type ManagedNodeLookup,
  type ServiceTable,
} from './context.js';
import {
  AwsError,
  RawReply,
  ec2Reply,
  errorReply,
  iamReply,
  jsonReply,
  parseCall,
  type AwsCall,
  type RawRequest,
} from './protocol.js';

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Sends a request to moto exactly as it came and returns moto's answer. */
function forwardRaw(motoUrl: string, raw: RawRequest): Promise<RawReply> {
  const target = new URL(raw.url, motoUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      {
        method: raw.method,
        headers: { ...raw.headers, host: target.host, 'content-length': String(raw.body.length) },
      },
      (res) => {
        readBody(res).then((body) => {
          const headers: Record<string, string> = {};
          for (const [key, value] of Object.entries(res.headers)) {
            if (value !== undefined && key !== 'transfer-encoding' && key !== 'connection')
              headers[key] = String(value);
          }
          resolve(new RawReply(res.statusCode ?? 502, headers, body));
        }, reject);
      },
    );
    req.on('error', reject);
    req.end(raw.body);
  });
}

function encode(call: AwsCall, output: unknown): RawReply {
  if (output instanceof RawReply) return output;
  if (call.protocol === 'json') return jsonReply(output);
  if (call.service === 'ec2') return ec2Reply(call.operation, (output ?? {}) as Record<string, unknown>);
  return iamReply(call.operation, output);
}

export interface EmulatorServerOptions {
  motoUrl: string;
  clock: Clock;
  services: ServiceTable;
  controls: Record<string, ControlHandler>;
  /** Finds a managed node for the authorization layer (`EmulatorContext.managedNode`). */
  managedNode: ManagedNodeLookup;
  /** Called with every AWS call the emulator receives (after parsing), for recording and faults. */
  onCall?: (call: AwsCall) => void;
  /** Fault injection (faults.ts): answers or rewrites AWS calls around their normal dispatch. */
  faults?: FaultInjector;
  /** Rate limits, per-call latency and call counts (traffic.ts), around the faults. */
  traffic?: Traffic;
}

/**
 * The one endpoint the product talks to: operations listed in `services` are served here with AWS's
 * shapes and error codes, every other request goes to moto unchanged.
 */
export function createEmulatorServer(options: EmulatorServerOptions): {
  server: Server;
  context: (url: string) => EmulatorContext;
} {
  const slices = new Map<string, unknown>();
  const clients = new Map<string, unknown>();
  let ctx: EmulatorContext | undefined;

  const context = (url: string): EmulatorContext => {
    ctx ??= {
      accountId: ACCOUNT_ID,
      url,
      motoUrl: options.motoUrl,
      clock: options.clock,
      faults: options.faults,
      moto(Client, region) {
        const key = `${Client.name}:${region}`;
        let client = clients.get(key);
        if (!client) {
          client = new Client({ region, endpoint: options.motoUrl, credentials: EMULATOR_CREDENTIALS });
          clients.set(key, client);
        }
        return client as never;
      },
      forward: (call) => forwardRaw(options.motoUrl, call.raw),
      slice(name, create) {
        if (!slices.has(name)) slices.set(name, create());
        return slices.get(name) as never;
      },
      managedNode: (region, nodeId) => options.managedNode(ctx!, region, nodeId),
    };
    return ctx;
  };

  // DynamoDB requests reach moto one at a time per table: moto does not make them atomic.
  const toMoto = serializeDynamoDb((raw: RawRequest) => forwardRaw(options.motoUrl, raw));

  const server = createServer((req, res) => {
    const send = (reply: RawReply) => {
      res.writeHead(reply.status, reply.headers);
      res.end(reply.body);
    };
    readBody(req)
      .then(async (body) => {
        const raw: RawRequest = {
          method: req.method ?? 'GET',
          url: req.url ?? '/',
          headers: req.headers,
          body,
        };
        const address = server.address();
        const port = typeof address === 'object' && address ? address.port : 0;
        const self = `http://127.0.0.1:${port}`;
        const emulator = context(self);
        if (raw.url.startsWith('/__emulator/')) {
          const name = raw.url.slice('/__emulator/'.length).split('?')[0]!;
          // The controls act without credentials: a page in the operator's browser must not reach them.
          const refusal = crossSiteRefusal(raw.headers, {
            jsonRequired: !['GET', 'HEAD'].includes(raw.method) || body.length > 0,
            originAllowed: ownOrigin(port),
            originName: `the emulator's own origin (http://127.0.0.1:${port})`,
          });
          if (refusal)
            return send(
              new RawReply(
                refusal.status,
                { 'content-type': 'application/json' },
                JSON.stringify({ error: refusal.message, code: refusal.code, field: refusal.field }),
              ),
            );
          const control = options.controls[name];
          if (!control)
            return send(
              new RawReply(
                404,
                { 'content-type': 'application/json' },
                JSON.stringify({ error: `no control ${name}` }),
              ),
            );
          try {
            const out = await control(body.length ? JSON.parse(body.toString('utf8')) : {}, emulator);
            return send(new RawReply(200, { 'content-type': 'application/json' }, JSON.stringify(out ?? {})));
          } catch (err) {
            const status = err instanceof AwsError ? err.status : 500;
            return send(
              new RawReply(
                status,
                { 'content-type': 'application/json' },
                JSON.stringify({ error: (err as Error).message, code: (err as Error).name }),
              ),
            );
          }
        }
        // Every AWS request must be signed with a secret the emulator knows (authorization/signature.ts).
        const unsigned = await signatureRefusal(emulator, raw);
        if (unsigned) return send(unsigned);
        const parsed = parseCall(raw);
        if (parsed) options.onCall?.(parsed);
        if (!parsed) return send((await refuseUnparsed(emulator, raw)) ?? (await toMoto(parsed, raw)));
        const serve = async (call: AwsCall): Promise<RawReply> => {
          const handler = options.services[call.service]?.[call.operation];
          if (!handler) return toMoto(call, call.raw);
          try {
            return encode(call, await handler(call, emulator));
          } catch (err) {
            if (err instanceof AwsError) return errorReply(call, err);
            console.error(`emulator: ${call.service}.${call.operation} failed:`, err);
            return errorReply(call, new AwsError('InternalServerError', (err as Error).message, 500));
          }
        };
        // Every call is authorized for its caller first (authorization/enforce.ts).
        const dispatch = (call: AwsCall) => guarded(emulator, call, serve);
        // Fault injection (faults.ts) answers, rewrites or passes each AWS call around its dispatch.
        const faulted = (call: AwsCall) =>
          options.faults ? options.faults.intercept(call, emulator, dispatch) : dispatch(call);
        send(await (options.traffic ? options.traffic.serve(parsed, faulted) : faulted(parsed)));
      })
      .catch((err: unknown) => {
        console.error('emulator: request failed:', err);
        if (!res.headersSent) send(new RawReply(502, { 'content-type': 'text/plain' }, String(err)));
      });
  });
  // Node closes a keep-alive connection idle for 5 s; the SDK's agent keeps its sockets and may
  // send on one just as it closes: "read ECONNRESET". On a loaded machine requests sit idle for
  // seconds of real time (the likely cause of one lab failing with read ECONNRESET in a 200-lab
  // benchmark run; not proven). AWS's endpoints keep idle connections far longer; so does the
  // emulator. `stop()` closes them all. Each idle connection holds two of this process's file
  // descriptors (client and server side) for that long: a 200-lab bench beside another crashed
  // with EMFILE at a 20,000 limit, possibly for this (not verified; bench/README.md).
  server.keepAliveTimeout = 10 * 60_000;
  return { server, context };
}
