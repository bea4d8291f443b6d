import type { EmulatorContext } from '../context.js';
import type { AwsCall, AwsError } from '../protocol.js';
import type { Caller } from '../services/caller.js';
import type { ContextValues } from '../services/iam-simulation/policies.js';

/**
 * What an operation asks IAM: each request the emulator authorizes is one or more (action,
 * resource, request context) triples, as AWS evaluates them. An operation that touches several
 * resources (RunInstances) or implies other actions (iam:PassRole, ec2:CreateTags on create) yields
 * one triple per resource and action; all must be allowed.
 */
export interface AuthRequest {
  /** `<iam prefix>:<Action>`. */
  action: string;
  /** The resource's ARN as AWS builds it from the request, or `*` for actions with no resource type. */
  resource: string;
  /** Request condition keys for this triple: aws:RequestTag/…, aws:TagKeys, iam:PassedToService, … */
  context?: ContextValues;
  /** The existing resource: its tags (aws:ResourceTag/…), its resource policy, its real ARN. */
  existing?: ExistingResource;
  /**
   * A service principal (`logs.<region>.amazonaws.com`) that makes this request itself, in place of
   * the caller: only the resource policy can allow it (kms.ts: CloudWatch Logs and a group's key).
   */
  servicePrincipal?: string;
  /**
   * The error the caller's service answers when this triple is refused, in place of the standard
   * refusal: a KMS request a service makes for its caller (kms.ts). Also called, `missing` true,
   * when the KMS key does not exist; a missing key it returns nothing for (and any missing key of a
   * request without it) is left to the service to answer.
   */
  refuse?: Refusal;
}

/** What a service answers when the KMS request it made for the caller is refused (kms.ts). */
export type Refusal = (denial: {
  /** KMS's own refusal: `User: <arn> is not authorized to perform: kms:<Action> on resource: ...`. */
  message: string;
  missing: boolean;
  /** The key as the request named it. */
  keyId: string;
}) => AwsError | undefined;

/** Where an existing resource's tags, resource policy and real ARN are read (resources.ts). */
export type ExistingResource =
  | { kind: 'ec2'; region: string; id: string }
  | { kind: 'ec2-key-pair'; region: string; name: string }
  | { kind: 'ssm'; region: string; resourceType: 'Parameter' | 'Document'; id: string }
  | { kind: 'managed-node'; region: string; id: string }
  | { kind: 'iam-role' | 'iam-user' | 'iam-group' | 'iam-instance-profile'; name: string }
  | { kind: 'iam-policy'; arn: string }
  | { kind: 'secret'; region: string; id: string }
  | { kind: 'log-group'; region: string; name: string }
  | { kind: 'kms-key'; region: string; id: string };

export interface OperationInput {
  call: AwsCall;
  ctx: EmulatorContext;
  caller: Caller;
  region: string;
  /** The caller's account: the account of the resources the request names. */
  account: string;
  // Inputs are AWS-shaped data as the protocol parsed them; each model narrows what it reads.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  input: any;
}

export type OperationModel = (op: OperationInput) => AuthRequest[] | Promise<AuthRequest[]>;

/**
 * Operations whose emulator handler authorizes the call itself, with the same evaluator, because
 * it needs what only the handler knows (the session's owner, the node's document).
 */
export const AUTHORIZED_BY_HANDLER = 'authorized-by-handler' as const;

/** operation -> model, for one IAM service prefix. */
export type ServiceModel = Record<string, OperationModel | typeof AUTHORIZED_BY_HANDLER>;

/** The model `model(op)` for each operation of `ops`, for operations that differ only by name. */
export function modelAll(ops: readonly string[], model: (op: string) => OperationModel): ServiceModel {
  return Object.fromEntries(ops.map((op) => [op, model(op)]));
}

/** A request with no resource type: authorized against `*`. */
export const anyResource =
  (action: string): OperationModel =>
  () => [{ action, resource: '*' }];
