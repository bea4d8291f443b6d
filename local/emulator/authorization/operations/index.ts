import { AUTHORIZED_BY_HANDLER, type OperationModel } from '../model.js';
import { dynamodb, events, states } from './data.js';
import { ec2, ec2Describe } from './ec2.js';
import { iam } from './iam.js';
import { logs } from './logs.js';
import { secretsmanager } from './secretsmanager.js';
import { ec2messages, ssm, ssmmessages } from './ssm.js';
import { cloudtrail, kms, s3, sts } from './other.js';

/**
 * Every operation the emulator can authorize, by the request's SigV4 signing name (which is the
 * IAM prefix for every service here). An operation missing from this table is refused for every
 * caller but the operator's own credentials (enforce.ts), never silently allowed.
 */
export const OPERATIONS = {
  ssm,
  ssmmessages,
  ec2messages,
  ec2,
  iam,
  logs,
  secretsmanager,
  dynamodb,
  events,
  states,
  sts,
  cloudtrail,
  kms,
  s3,
};

/** The IAM prefix of each signing name: the same for every service modelled. */
const PREFIX: Record<string, string> = { monitoring: 'cloudwatch' };

export const iamPrefix = (signingName: string) => PREFIX[signingName] ?? signingName;

export type Model = OperationModel | typeof AUTHORIZED_BY_HANDLER;

export function modelOf(service: string, operation: string): Model | undefined {
  const table = (OPERATIONS as Record<string, Record<string, Model>>)[service];
  const model = table && Object.hasOwn(table, operation) ? table[operation] : undefined;
  return model ?? (service === 'ec2' ? ec2Describe(operation) : undefined);
}

/** How many operations are modelled (EC2's Describe* counted once, as one rule). */
export function modelledOperations(): string[] {
  return Object.entries(OPERATIONS).flatMap(([service, table]) =>
    Object.keys(table).map((operation) => `${iamPrefix(service)}:${operation}`),
  );
}
