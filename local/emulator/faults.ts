/**
 * Fault injection: what a bad night on AWS looks like, configurable per emulator run and
 * deterministic for a seed. Transient faults (throttling, 5xx) answer a share of every operation's
 * requests before they take effect, with the code and HTTP status AWS uses, so the SDK's retry
 * classifies them as it would on AWS. The other faults model AWS behaviour that retries cannot fix,
 * or only a workflow's own retries can: IAM propagation, an agent that never registers, a command
 * that hangs until it times out, an activation that expires before it is used.
 *
 * Each decision is a hash of (seed, fault, operation, n) where n counts that operation's requests,
 * so a run sees the same sequence of faults per operation for a seed (concurrent callers may still
 * interleave differently).
 *
 * The pieces: faults/options.ts (what a run configures), faults/injector.ts (the injector the
 * server calls around each AWS call), faults/answers.ts (the errors it answers with),
 * faults/controls.ts (the control endpoint).
 */

export { faultControls } from './faults/controls.js';
export {
  FaultInjector,
  type FaultStats,
  type PermanentFault,
  type TransientFault,
} from './faults/injector.js';
export {
  faultOptionsFromEnv,
  faultOptionsSchema,
  parseFaultOptions,
  type FaultOptions,
  type FaultRate,
} from './faults/options.js';
