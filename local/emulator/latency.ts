import type { AwsCall } from './protocol.js';

/**
 * Per-call API latency by operation family: the round trip a Lambda in the same Region sees, in
 * model seconds. AWS publishes no latency figures; these are stated assumptions (bench/README.md,
 * "Per-call latency"), typical of what CloudTrail/X-Ray traces show for these APIs. Applied only
 * when the time profile enables `apiLatency`; the emulator pads each call to its figure (a call the
 * emulator serves more slowly than that keeps its measured time).
 */
export interface LatencyFamily {
  family: string;
  seconds: number;
  applies(call: Pick<AwsCall, 'service' | 'operation'>): boolean;
}

const reads = /^(Describe|Get|List|Lookup|Search|Simulate)/;
const is =
  (service: string, test: (operation: string) => boolean) => (call: Pick<AwsCall, 'service' | 'operation'>) =>
    call.service === service && test(call.operation);

/** First match wins; the last row catches everything else. */
export const LATENCY_FAMILIES: LatencyFamily[] = [
  { family: 'ec2:RunInstances', seconds: 1.0, applies: is('ec2', (op) => op === 'RunInstances') },
  { family: 'ec2:TerminateInstances', seconds: 0.5, applies: is('ec2', (op) => op === 'TerminateInstances') },
  { family: 'ec2:describe', seconds: 0.15, applies: is('ec2', (op) => reads.test(op)) },
  { family: 'ec2:mutating', seconds: 0.3, applies: is('ec2', () => true) },
  { family: 'iam:read', seconds: 0.12, applies: is('iam', (op) => reads.test(op)) },
  { family: 'iam:mutating', seconds: 0.3, applies: is('iam', () => true) },
  { family: 'ssm:SendCommand', seconds: 0.2, applies: is('ssm', (op) => op === 'SendCommand') },
  { family: 'ssm:read', seconds: 0.06, applies: is('ssm', (op) => reads.test(op)) },
  { family: 'ssm:mutating', seconds: 0.1, applies: is('ssm', () => true) },
  { family: 'secretsmanager', seconds: 0.08, applies: is('secretsmanager', () => true) },
  { family: 'logs', seconds: 0.06, applies: is('logs', () => true) },
  { family: 'cloudtrail:LookupEvents', seconds: 0.3, applies: is('cloudtrail', () => true) },
  { family: 'sts', seconds: 0.05, applies: is('sts', () => true) },
  { family: 'dynamodb', seconds: 0.01, applies: is('dynamodb', () => true) },
  { family: 'other', seconds: 0.1, applies: () => true },
];

/** The family and model seconds of one call. */
export function callLatency(call: Pick<AwsCall, 'service' | 'operation'>): {
  family: string;
  seconds: number;
} {
  const row = LATENCY_FAMILIES.find((f) => f.applies(call))!;
  return { family: row.family, seconds: row.seconds };
}
