import { AwsError, type AwsCall } from '../protocol.js';
import type { EmulatorContext, OperationHandler } from '../context.js';

/**
 * SSM service settings: the account-wide activation tier, whose change passes through
 * PendingUpdate for the profile's `tierChangeSeconds` before the new value is in effect, as AWS
 * documents; and Default Host Management Configuration (DHMC), the role name Systems Manager
 * assumes to make EC2 instances without an instance profile managed nodes (managed-nodes/nodes.ts).
 */

const ACTIVATION_TIER = '/ssm/managed-instance/activation-tier';
const DHMC_ROLE = '/ssm/managed-instance/default-ec2-instance-management-role';
const DEFAULTS: Record<string, string> = { [ACTIVATION_TIER]: 'standard', [DHMC_ROLE]: '' };
/** The values a setting takes: a list, or a pattern (DHMC: a role name, with its path, or empty). */
const ALLOWED: Record<string, string[] | RegExp> = {
  [ACTIVATION_TIER]: ['standard', 'advanced'],
  [DHMC_ROLE]: /^([\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$|^$/,
};
/** Settings whose change waits in PendingUpdate (the tier); the others take effect at once. */
const PENDING = new Set([ACTIVATION_TIER]);

interface Setting {
  value: string;
  status: 'Default' | 'Customized' | 'PendingUpdate';
  pending?: { value: string; status: 'Default' | 'Customized'; since: number };
  modifiedAt: Date;
  modifiedBy: string;
}

const settingsOf = (ctx: EmulatorContext) => ctx.slice('service-settings', () => new Map<string, Setting>());

/** Accepts the ARN and the bare id forms; anything else is ServiceSettingNotFound. */
function settingId(call: AwsCall, ctx: EmulatorContext): string {
  const given = String(call.input.SettingId ?? '');
  let id = given;
  if (given.startsWith('arn:')) {
    const prefix = `arn:aws:ssm:${call.region}:${ctx.accountId}:servicesetting`;
    id = given.startsWith(`${prefix}/`) ? given.slice(prefix.length) : '';
  }
  if (!(id in DEFAULTS))
    throw new AwsError('ServiceSettingNotFound', `The service setting ${given} was not found.`);
  return id;
}

/** The setting as it is now, applying a pending change whose delay has passed. */
function current(ctx: EmulatorContext, region: string, id: string): Setting {
  const settings = settingsOf(ctx);
  const key = `${region}:${id}`;
  let setting = settings.get(key);
  if (!setting) {
    setting = { value: DEFAULTS[id]!, status: 'Default', modifiedAt: new Date(0), modifiedBy: 'System' };
    settings.set(key, setting);
  }
  const { pending } = setting;
  if (pending && ctx.clock.hasElapsed(pending.since, ctx.clock.profile.tierChangeSeconds)) {
    setting.status = pending.status;
    delete setting.pending;
  }
  return setting;
}

/** The tier in effect in `region` (a pending change is not in effect yet). */
export function effectiveActivationTier(ctx: EmulatorContext, region: string): string {
  const setting = current(ctx, region, ACTIVATION_TIER);
  return setting.status === 'PendingUpdate'
    ? setting.value === 'advanced'
      ? 'standard'
      : 'advanced'
    : setting.value;
}

/**
 * The DHMC role name in effect in `region` (with its path, as the setting holds it), or undefined
 * when DHMC is off.
 */
export function dhmcRoleName(ctx: EmulatorContext, region: string): string | undefined {
  return current(ctx, region, DHMC_ROLE).value || undefined;
}

function change(call: AwsCall, ctx: EmulatorContext, value: string, status: 'Default' | 'Customized'): void {
  const id = settingId(call, ctx);
  const allowed = ALLOWED[id]!;
  if (Array.isArray(allowed) ? !allowed.includes(value) : !allowed.test(value)) {
    throw new AwsError('ValidationException', `SettingValue ${value} is not valid for ${id}.`);
  }
  const setting = current(ctx, call.region, id);
  if (setting.status === 'PendingUpdate') {
    throw new AwsError('TooManyUpdates', `A change to ${id} is already in progress.`, 429);
  }
  if (setting.value === value && setting.status === status) return;
  setting.value = value;
  if (PENDING.has(id)) {
    setting.status = 'PendingUpdate';
    setting.pending = { value, status, since: Date.now() };
  } else setting.status = status;
  setting.modifiedAt = new Date();
  setting.modifiedBy = `arn:aws:iam::${ctx.accountId}:root`;
}

function describe(ctx: EmulatorContext, region: string, id: string) {
  const setting = current(ctx, region, id);
  return {
    SettingId: id,
    SettingValue: setting.value,
    LastModifiedDate: setting.modifiedAt.getTime() / 1000,
    LastModifiedUser: setting.modifiedBy,
    ARN: `arn:aws:ssm:${region}:${ctx.accountId}:servicesetting${id}`,
    Status: setting.status,
  };
}

export const serviceSettings: Record<string, OperationHandler> = {
  async GetServiceSetting(call, ctx) {
    return { ServiceSetting: describe(ctx, call.region, settingId(call, ctx)) };
  },
  async UpdateServiceSetting(call, ctx) {
    change(call, ctx, String(call.input.SettingValue ?? ''), 'Customized');
    return {};
  },
  async ResetServiceSetting(call, ctx) {
    const id = settingId(call, ctx);
    change(call, ctx, DEFAULTS[id]!, 'Default');
    return { ServiceSetting: describe(ctx, call.region, id) };
  },
};
