/**
 * What may be recorded: the registry's items, the progress events and the API's answers hold
 * names, ids and ARNs, never a secret value. These helpers strip secrets from what a task or a
 * workflow reports, pick a step's resource ledger out of its output, and bound text to what fits
 * an item and a log line.
 */

const SECRET_KEYS =
  /^(password|passwordValue|secret|secretString|secretValue|privateKey|privateKeyMaterial|keyMaterial|activationCode|code|token|sessionToken|secretAccessKey)$/i;
const LEDGER_KEYS = /(Id|Ids|Arn|Arns|Name|Names|Parameter|Parameters)$/;
const MAX_TEXT = 2048;

/** A copy of `value` without secret-named keys or PEM blocks: what may go into the registry, events and the API. */
export function withoutSecrets<T>(value: T): T {
  if (Array.isArray(value)) return value.map((item) => withoutSecrets(item)) as T;
  if (typeof value === 'string')
    return (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(value) ? '[removed]' : value) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([key]) => !SECRET_KEYS.test(key))
        .map(([key, item]) => [key, withoutSecrets(item)]),
    ) as T;
  }
  return value;
}

/**
 * The resource ids, names and ARNs in a task's output, flattened (`network.vpcId`,
 * `instances.0.instanceId`): the lab's resource ledger entry for the step. Bounded in size.
 */
export function ledgerOf(output: unknown, limit = 64): Record<string, string> {
  const ledger: Record<string, string> = {};
  const walk = (value: unknown, path: string[], key: string) => {
    if (Object.keys(ledger).length >= limit) return;
    if (typeof value === 'string') {
      if (
        LEDGER_KEYS.test(key) &&
        !SECRET_KEYS.test(key) &&
        value.length <= MAX_TEXT &&
        !/[\r\n]/.test(value)
      )
        ledger[path.join('.')] = value;
    } else if (Array.isArray(value)) {
      value.forEach((item, i) => walk(item, [...path, String(i)], key));
    } else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) walk(v, [...path, k], k);
    }
  };
  walk(output, [], '');
  return ledger;
}

/** Text cut to a size that fits an item and a log line. */
export const clip = (text: string, max = 1024) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);
