import { randomBytes, randomUUID } from 'node:crypto';
import { GetRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import type { EmulatorContext, OperationHandler } from '../context.js';
import { AwsError, type AwsCall } from '../protocol.js';
import { decodeToken, pageAt, rangeError } from './paging.js';
import { parseTrustPolicy } from '../authorization/trust.js';

/**
 * SSM hybrid activations. moto has none, so they live here: the code is kept only to check
 * registrations (DescribeActivations never returns it), and registrations count against the limit.
 */

interface Activation {
  id: string;
  code: string;
  region: string;
  description?: string;
  defaultInstanceName?: string;
  iamRole: string;
  registrationLimit: number;
  registrationsCount: number;
  expirationMs: number;
  createdMs: number;
  tags: { Key: string; Value: string }[];
}

const activations = (ctx: EmulatorContext) => ctx.slice('activations', () => new Map<string, Activation>());

const DAY_MS = 24 * 3600 * 1000;
const NAME_PATTERN = /^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$/u;
const ACTIVATION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const validation = (message: string) => new AwsError('ValidationException', message);

function lengthCheck(field: string, value: string, max: number, min = 0): void {
  if (value.length > max || value.length < min) {
    const bound =
      value.length > max ? `length less than or equal to ${max}` : `length greater than or equal to ${min}`;
    throw validation(
      `1 validation error detected: Value at '${field}' failed to satisfy constraint: Member must have ${bound}`,
    );
  }
}

/** JSON timestamps arrive as epoch seconds; a string date is accepted too. */
function epochMs(value: unknown): number {
  const ms = typeof value === 'number' ? value * 1000 : Date.parse(String(value));
  if (!Number.isFinite(ms)) throw validation(`ExpirationDate ${String(value)} is not a valid timestamp.`);
  return ms;
}

/**
 * The role must exist (the name may carry a path, `service-role/MyRole`), must not be service-linked
 * and must trust ssm.amazonaws.com; AWS reports every one of these as a role that does not exist.
 */
async function checkRole(ctx: EmulatorContext, iamRole: string): Promise<void> {
  const notExisting = validation(`Not existing role: arn:aws:iam::${ctx.accountId}:role/${iamRole}`);
  const slash = iamRole.lastIndexOf('/');
  const name = iamRole.slice(slash + 1);
  const path = slash >= 0 ? `/${iamRole.slice(0, slash)}/` : '/';
  let role;
  try {
    ({ Role: role } = await ctx.moto(IAMClient, 'us-east-1').send(new GetRoleCommand({ RoleName: name })));
  } catch (err) {
    if ((err as Error).name.startsWith('NoSuchEntity')) throw notExisting;
    throw err;
  }
  if (!role || (role.Path ?? '/') !== path) throw notExisting;
  if (role.Path?.startsWith('/aws-service-role/')) {
    throw validation(`Service-linked role arn:aws:iam::${ctx.accountId}:role/${iamRole} cannot be used.`);
  }
  const trusts = (parseTrustPolicy(role.AssumeRolePolicyDocument) ?? []).some((s) => {
    const statement = s as typeof s & { Principal?: { Service?: string | string[] } | string };
    if (statement.Effect !== 'Allow') return false;
    const actions = ([] as string[]).concat(statement.Action ?? []);
    if (!actions.some((a) => ['sts:assumerole', 'sts:*', '*'].includes(a.toLowerCase()))) return false;
    const principal = statement.Principal;
    if (principal === '*') return true;
    const services = ([] as string[]).concat(
      (principal as { Service?: string | string[] } | undefined)?.Service ?? [],
    );
    return services.includes('ssm.amazonaws.com');
  });
  if (!trusts) throw notExisting;
}

function readTags(input: unknown): { Key: string; Value: string }[] {
  const tags = (input ?? []) as { Key?: string; Value?: string }[];
  if (tags.length > 1000) throw validation('An activation can have at most 1000 tags.');
  return tags.map((t) => {
    const Key = String(t.Key ?? '');
    const Value = String(t.Value ?? '');
    lengthCheck('tags.member.key', Key, 128, 1);
    lengthCheck('tags.member.value', Value, 256);
    if (Key.toLowerCase().startsWith('aws:')) throw validation('Tag keys beginning with aws: are reserved.');
    return { Key, Value };
  });
}

const isExpired = (a: Activation) => Date.now() >= a.expirationMs;

function describe(a: Activation) {
  return {
    ActivationId: a.id,
    ...(a.description !== undefined ? { Description: a.description } : {}),
    ...(a.defaultInstanceName !== undefined ? { DefaultInstanceName: a.defaultInstanceName } : {}),
    IamRole: a.iamRole,
    RegistrationLimit: a.registrationLimit,
    RegistrationsCount: a.registrationsCount,
    ExpirationDate: a.expirationMs / 1000,
    Expired: isExpired(a),
    CreatedDate: a.createdMs / 1000,
    Tags: a.tags,
  };
}

const FILTERS: Record<string, (a: Activation) => string | undefined> = {
  ActivationIds: (a) => a.id,
  DefaultInstanceName: (a) => a.defaultInstanceName,
  IamRole: (a) => a.iamRole,
};

function activationIdOf(call: AwsCall): string {
  const id = String(call.input.ActivationId ?? '');
  if (!ACTIVATION_ID.test(id)) {
    throw new AwsError(
      'InvalidActivationId',
      `The activation ID ${id} is not valid. Verify the ID and try again.`,
    );
  }
  return id;
}

/** Why a registration was refused, in the words the agent logs after "error registering ...". */
export class RegistrationRefused extends Error {}

/**
 * Checks an agent's `-code`/`-id` against the activations of `region` and counts the registration.
 * Returns what the new node inherits: the activation's role, default name and tags.
 */
export function consumeActivation(
  ctx: EmulatorContext,
  region: string,
  activationId: string,
  code: string,
): { activationId: string; iamRole: string; name?: string; tags: Record<string, string> } {
  const activation = activations(ctx).get(activationId);
  if (!activation || activation.region !== region || activation.code !== code) {
    throw new RegistrationRefused(
      `InvalidActivation: The activation ID and code do not match an activation in ${region}.`,
    );
  }
  if (isExpired(activation)) {
    throw new RegistrationRefused(
      `InvalidActivation: Activation ${activationId} expired at ${new Date(activation.expirationMs).toISOString()}.`,
    );
  }
  if (activation.registrationsCount >= activation.registrationLimit) {
    throw new RegistrationRefused(
      `InvalidActivation: Activation ${activationId} has reached its registration limit of ${activation.registrationLimit}.`,
    );
  }
  activation.registrationsCount += 1;
  return {
    activationId,
    iamRole: activation.iamRole,
    ...(activation.defaultInstanceName !== undefined ? { name: activation.defaultInstanceName } : {}),
    tags: Object.fromEntries(activation.tags.map((t) => [t.Key, t.Value])),
  };
}

export const hybridActivations: Record<string, OperationHandler> = {
  async CreateActivation(call, ctx) {
    const input = call.input as Record<string, unknown>;
    const iamRole = String(input.IamRole ?? '');
    lengthCheck('iamRole', iamRole, 64, 1);
    const description = input.Description === undefined ? undefined : String(input.Description);
    if (description !== undefined) lengthCheck('description', description, 256);
    const defaultInstanceName =
      input.DefaultInstanceName === undefined ? undefined : String(input.DefaultInstanceName);
    if (defaultInstanceName !== undefined) {
      lengthCheck('defaultInstanceName', defaultInstanceName, 256);
      if (!NAME_PATTERN.test(defaultInstanceName)) {
        throw validation(
          `1 validation error detected: Value '${defaultInstanceName}' at 'defaultInstanceName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$`,
        );
      }
    }
    const registrationLimit = input.RegistrationLimit === undefined ? 1 : Number(input.RegistrationLimit);
    if (!Number.isInteger(registrationLimit) || registrationLimit < 1 || registrationLimit > 1000) {
      throw rangeError('registrationLimit', registrationLimit, 1, 1000);
    }
    const now = Date.now();
    const expirationMs = input.ExpirationDate === undefined ? now + DAY_MS : epochMs(input.ExpirationDate);
    if (expirationMs <= now) throw validation('ExpirationDate must be in the future.');
    if (expirationMs > now + 30 * DAY_MS) {
      throw validation('ExpirationDate must be no more than 30 days from the current date.');
    }
    const tags = readTags(input.Tags);
    await checkRole(ctx, iamRole);
    const activation: Activation = {
      id: randomUUID(),
      // 20 characters from the base64 alphabet, the shape of real activation codes.
      code: randomBytes(15).toString('base64'),
      region: call.region,
      description,
      defaultInstanceName,
      iamRole,
      registrationLimit,
      registrationsCount: 0,
      expirationMs,
      createdMs: now,
      tags,
    };
    activations(ctx).set(activation.id, activation);
    return { ActivationId: activation.id, ActivationCode: activation.code };
  },

  async DescribeActivations(call, ctx) {
    const filters = (call.input.Filters ?? []) as { FilterKey?: string; FilterValues?: string[] }[];
    for (const f of filters) {
      if (!(String(f.FilterKey) in FILTERS)) {
        throw new AwsError('InvalidFilter', `The filter key ${String(f.FilterKey)} is not valid.`);
      }
    }
    const maxResults = call.input.MaxResults === undefined ? 50 : Number(call.input.MaxResults);
    if (maxResults < 1 || maxResults > 50) throw rangeError('maxResults', maxResults, 1, 50);
    const offset = decodeToken('DescribeActivations', call.input.NextToken);
    const all = [...activations(ctx).values()]
      .filter((a) => a.region === call.region)
      .filter((a) =>
        filters.every((f) => {
          const value = FILTERS[f.FilterKey!]!(a);
          return value !== undefined && (f.FilterValues ?? []).includes(value);
        }),
      )
      .sort((a, b) => a.createdMs - b.createdMs || a.id.localeCompare(b.id));
    const { page, nextToken } = pageAt(all, 'DescribeActivations', offset, maxResults);
    return {
      ActivationList: page.map(describe),
      ...(nextToken ? { NextToken: nextToken } : {}),
    };
  },

  async DeleteActivation(call, ctx) {
    const id = activationIdOf(call);
    const activation = activations(ctx).get(id);
    if (!activation || activation.region !== call.region) {
      throw new AwsError('InvalidActivation', `Activation ID ${id} doesn't exist or has been deleted.`, 404);
    }
    // Nodes registered with it stay registered, as on AWS.
    activations(ctx).delete(id);
    return {};
  },
};
