import type { Clock } from './time.js';
import type { AwsCall, RawReply } from './protocol.js';

/** The account moto serves by default; the emulator speaks for the same one. */
export const ACCOUNT_ID = '123456789012';

/** Credentials the emulator itself uses towards moto: moto treats them as the account's root. */
export const EMULATOR_CREDENTIALS = { accessKeyId: 'session-lab-emulator', secretAccessKey: 'emulator' };

/** The operator's credentials: the local deployment's and the runner's admin calls. */
export const OPERATOR_CREDENTIALS = { accessKeyId: 'session-lab-operator', secretAccessKey: 'operator' };

/**
 * The keys IAM did not issue that the emulator accepts, each as the account's admin (root), and
 * the secret each must be signed with: the operator's, and `testing`/`testing`, moto's customary
 * key, which `session-lab emulator` prints, the CLI uses against an emulator of its own and the
 * tests use. Any other key IAM or the emulator did not issue is refused, as AWS refuses it.
 */
export const ADMIN_CREDENTIALS: readonly { accessKeyId: string; secretAccessKey: string }[] = [
  OPERATOR_CREDENTIALS,
  { accessKeyId: 'testing', secretAccessKey: 'testing' },
];

type ClientClass<T> = new (config: {
  region: string;
  endpoint: string;
  credentials: typeof EMULATOR_CREDENTIALS;
}) => T;

/** The fault hooks the services consult (run-command asks whether an invocation hangs); faults/injector.ts. */
export interface FaultHooks {
  /** Real ms after which the invocations of this SendCommand call end TimedOut instead of running. */
  commandHangMs(call: AwsCall, executionTimeoutSeconds: number): number | undefined;
}

/** What a service handler may use: moto, the clock, its own state slice, and a way to forward. */
export interface EmulatorContext {
  accountId: string;
  /** The emulator's own endpoint (what simulated hosts call back to). */
  url: string;
  motoUrl: string;
  clock: Clock;
  /** Fault injection, when the run configured it (faults/injector.ts). */
  faults?: FaultHooks;
  /** An SDK client of moto for the emulator's own reads and writes, cached per class and region. */
  moto<T>(Client: ClientClass<T>, region: string): T;
  /** Sends the call to moto unchanged and returns moto's answer. */
  forward(call: AwsCall): Promise<RawReply>;
  /** A named piece of emulator state, created on first use, so each service module owns its own. */
  slice<T>(name: string, create: () => T): T;
  /**
   * The managed node `nodeId` (i- or mi-) of `region` with its tags, or undefined when it is not a
   * managed node: IAM reads its tags when it authorizes a request on it. The service table
   * provides it (services/index.ts), so the authorization layer imports no service.
   */
  managedNode(region: string, nodeId: string): Promise<{ tags: Record<string, string> } | undefined>;
}

/** How the service table finds a managed node for `EmulatorContext.managedNode`. */
export type ManagedNodeLookup = (
  ctx: EmulatorContext,
  region: string,
  nodeId: string,
) => Promise<{ tags: Record<string, string> } | undefined>;

export type OperationHandler = (call: AwsCall, ctx: EmulatorContext) => Promise<unknown>;

/** `service -> operation -> handler`; anything not listed is forwarded to moto. */
export type ServiceTable = Record<string, Record<string, OperationHandler>>;

/** Internal endpoints the simulated hosts' commands call: POST /__emulator/<name> with JSON. */
export type ControlHandler = (body: unknown, ctx: EmulatorContext) => Promise<unknown>;
