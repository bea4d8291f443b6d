import { randomInt } from 'node:crypto';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  PutSecretValueCommand,
  TagResourceCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import {
  DeleteParameterCommand,
  GetParameterCommand,
  PutParameterCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { ignoreErrors, isErrorNamed } from './errors.js';
import { toTagRecord, type Tag } from './tags.js';

/**
 * The one place secrets are written and removed. Secret values go from the API response that
 * produced them straight into SecureString / Secrets Manager; callers pass on names and ARNs only.
 */

/**
 * Stores `value` as a SecureString. PutParameter refuses Tags together with Overwrite, so the
 * first write tags and a rewrite (after a crash, or a recreated key) overwrites the value only.
 */
export async function putSecureParameter(
  ssm: SSMClient,
  name: string,
  value: string,
  tags: Tag[],
): Promise<string> {
  try {
    await ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: 'SecureString', Tags: tags }));
  } catch (err) {
    if (!isErrorNamed(err, 'ParameterAlreadyExists')) throw err;
    await ssm.send(
      new PutParameterCommand({ Name: name, Value: value, Type: 'SecureString', Overwrite: true }),
    );
  }
  return name;
}

/** True when the parameter exists (its value is not fetched). */
export async function parameterExists(ssm: SSMClient, name: string): Promise<boolean> {
  const found = await ignoreErrors(
    () => ssm.send(new GetParameterCommand({ Name: name })),
    'ParameterNotFound',
  );
  return found !== undefined;
}

/** Deletes a parameter; one already gone counts as deleted. */
export async function deleteParameter(ssm: SSMClient, name: string): Promise<void> {
  await ignoreErrors(() => ssm.send(new DeleteParameterCommand({ Name: name })), 'ParameterNotFound');
}

/** Stores `value` in Secrets Manager under `name`, creating or rotating it; returns the secret's ARN. */
export async function putSecret(
  secrets: SecretsManagerClient,
  name: string,
  value: string,
  tags: Tag[],
): Promise<string> {
  try {
    const created = await secrets.send(
      new CreateSecretCommand({ Name: name, SecretString: value, Tags: tags }),
    );
    return created.ARN!;
  } catch (err) {
    if (!isErrorNamed(err, 'ResourceExistsException')) throw err;
    const updated = await secrets.send(new PutSecretValueCommand({ SecretId: name, SecretString: value }));
    return updated.ARN!;
  }
}

/** A secret's ARN and tags (not its value), or undefined when it does not exist. */
export async function findSecret(
  secrets: SecretsManagerClient,
  name: string,
): Promise<{ arn: string; tags: Record<string, string> } | undefined> {
  const found = await ignoreErrors(
    () => secrets.send(new DescribeSecretCommand({ SecretId: name })),
    'ResourceNotFoundException',
  );
  return found?.ARN ? { arn: found.ARN, tags: toTagRecord(found.Tags) } : undefined;
}

/** The ARN of a secret, or undefined when it does not exist. */
export async function secretArn(secrets: SecretsManagerClient, name: string): Promise<string | undefined> {
  return (await findSecret(secrets, name))?.arn;
}

/** Adds or overwrites tags on a secret. */
export async function tagSecret(secrets: SecretsManagerClient, arn: string, tags: Tag[]): Promise<void> {
  await secrets.send(new TagResourceCommand({ SecretId: arn, Tags: tags }));
}

/** Deletes a secret at once (no recovery window: a reset recreates it under the same name). */
export async function deleteSecret(secrets: SecretsManagerClient, name: string): Promise<void> {
  await ignoreErrors(
    () => secrets.send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true })),
    'ResourceNotFoundException',
  );
}

const CLASSES = [
  'ABCDEFGHJKLMNPQRSTUVWXYZ',
  'abcdefghijkmnopqrstuvwxyz',
  '23456789',
  '!@#$%^&*()_+-=[]{}|',
] as const;

/**
 * A password that satisfies IAM's default policy and any stricter account policy up to
 * `minLength`: every character class present, uniformly random from a CSPRNG.
 */
export function generatePassword(minLength = 8): string {
  const length = Math.max(24, minLength);
  const all = CLASSES.join('');
  const chars = CLASSES.map((set) => set[randomInt(set.length)]!);
  while (chars.length < length) chars.push(all[randomInt(all.length)]!);
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j]!, chars[i]!];
  }
  return chars.join('');
}
