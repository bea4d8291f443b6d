import { isDeepStrictEqual } from 'node:util';
import {
  AttachUserPolicyCommand,
  CreateLoginProfileCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateUserCommand,
  DeletePolicyVersionCommand,
  GetAccountPasswordPolicyCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetUserCommand,
  ListPolicyVersionsCommand,
  UpdateLoginProfileCommand,
  paginateListAttachedUserPolicies,
  type IAMClient,
} from '@aws-sdk/client-iam';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import type { LabClients } from '../shared/clients.js';
import {
  IamNotPropagatedYet,
  LabStateMismatch,
  NotReadyYet,
  ignoreErrors,
  isErrorNamed,
} from '../shared/errors.js';
import { labConfigSchema } from '../shared/lab-config.js';
import { MANAGED_POLICIES, labNames } from '../shared/names.js';
import { generatePassword, putSecret } from '../shared/secrets.js';
import { TAG_LAB_ID, labTags } from '../shared/tags.js';
import { workshopUserPolicy, type PolicyDocument } from './policy.js';

export const inputSchema = z.object({ lab: labConfigSchema });
export type Input = z.output<typeof inputSchema>;

/** Names and ARNs only: the password stays in Secrets Manager. */
export interface Output {
  userName: string;
  userArn: string;
  policyArn: string;
  passwordSecretArn: string;
  attachedPolicies: string[];
}

/** IAM keeps at most five versions of a managed policy (facts sheet 1.1). */
const MAX_POLICY_VERSIONS = 5;

/** The default account password policy's minimum length, when no custom policy is set (facts sheet 1.3). */
const DEFAULT_MIN_PASSWORD_LENGTH = 8;

/**
 * Seed task 4: the lab's IAM user with a console password, its customer policy and the read-only
 * managed policies, checked afterwards like the seed's list-attached-user-policies step.
 * IAMUserChangePassword is attached too: the API, unlike the console, does not add it, and
 * without it a user whose password must be reset cannot finish signing in (facts sheet 1.3).
 */
export async function createWorkshopUser(
  { lab }: Input,
  { iam, secrets }: Pick<LabClients, 'iam' | 'secrets'>,
): Promise<Output> {
  const names = labNames(lab.labId);
  const userArn = await ensureUser(iam, names.user, lab.labId);
  const passwordSecretArn = await setPassword(iam, secrets, names.user, names.passwordSecret, lab.labId);

  const policyArn = `${iamArnPrefix(userArn)}:policy/${names.userPolicy}`;
  await ensurePolicy(
    iam,
    policyArn,
    names.userPolicy,
    workshopUserPolicy(lab.policyMode, lab.labId),
    lab.labId,
  );

  const required = [
    policyArn,
    MANAGED_POLICIES.userChangePassword,
    MANAGED_POLICIES.cloudWatchLogsReadOnly,
    MANAGED_POLICIES.cloudTrailReadOnly,
  ];
  // Attaching an attached policy is believed to be a silent no-op, but that is unconfirmed (facts
  // sheet 1.1): only the missing ones are attached.
  const before = await attachedPolicyArns(iam, names.user);
  for (const arn of required) if (!before.includes(arn)) await attach(iam, names.user, arn);
  const attachedPolicies = (await attachedPolicyArns(iam, names.user)).sort();
  const missing = required.filter((arn) => !attachedPolicies.includes(arn));
  if (missing.length > 0) {
    throw new LabStateMismatch(
      `${names.user} is missing attached policies after attaching: ${missing.join(', ')}`,
    );
  }
  return { userName: names.user, userArn, policyArn, passwordSecretArn, attachedPolicies };
}

/** `arn:<partition>:iam::<account>` from the user's ARN: no extra call for the account id. */
function iamArnPrefix(userArn: string): string {
  const [arn, partition, service, , account] = userArn.split(':');
  return [arn, partition, service, '', account].join(':');
}

/**
 * Creates the user, or adopts it when it carries this lab's tag. A same-named user without the tag
 * is someone else's: its password is not reset.
 */
async function ensureUser(iam: IAMClient, userName: string, labId: string): Promise<string> {
  try {
    const { User } = await iam.send(new CreateUserCommand({ UserName: userName, Tags: labTags(labId) }));
    return User!.Arn!;
  } catch (err) {
    if (!isErrorNamed(err, 'EntityAlreadyExistsException')) throw err;
  }
  const { User } = await iam.send(new GetUserCommand({ UserName: userName }));
  const owner = User?.Tags?.find((tag) => tag.Key === TAG_LAB_ID)?.Value;
  if (owner !== labId) {
    throw new LabStateMismatch(
      `IAM user ${userName} exists without the tag ${TAG_LAB_ID}=${labId}: not this lab's`,
    );
  }
  return User!.Arn!;
}

/**
 * A fresh password on every run, stored before it is set, so the secret never lags behind the
 * login profile for longer than one call. A run after a crash therefore rotates the password
 * rather than trusting a secret that may not match the profile.
 */
async function setPassword(
  iam: IAMClient,
  secrets: SecretsManagerClient,
  userName: string,
  secretName: string,
  labId: string,
): Promise<string> {
  const policy = await ignoreErrors(
    () => iam.send(new GetAccountPasswordPolicyCommand({})),
    'NoSuchEntityException', // no custom policy: the default one applies
  );
  const password = generatePassword(
    policy?.PasswordPolicy?.MinimumPasswordLength ?? DEFAULT_MIN_PASSWORD_LENGTH,
  );
  const secretArn = await putSecret(secrets, secretName, password, labTags(labId));
  const profile = { UserName: userName, Password: password, PasswordResetRequired: true };
  try {
    await iam.send(new CreateLoginProfileCommand(profile));
  } catch (err) {
    if (isErrorNamed(err, 'NoSuchEntityException')) {
      throw new IamNotPropagatedYet(`user ${userName} is not visible to CreateLoginProfile yet`);
    }
    if (!isErrorNamed(err, 'EntityAlreadyExistsException')) throw err;
    try {
      await iam.send(new UpdateLoginProfileCommand(profile));
    } catch (updateErr) {
      if (isErrorNamed(updateErr, 'EntityTemporarilyUnmodifiableException')) {
        throw new NotReadyYet(`the login profile of ${userName} cannot be modified yet`);
      }
      throw updateErr;
    }
  }
  return secretArn;
}

/** IAM returns a policy version's document URL-encoded (RFC 3986). */
function parsePolicyDocument(raw: string): unknown {
  return JSON.parse(raw.trimStart().startsWith('{') ? raw : decodeURIComponent(raw));
}

/**
 * Creates the customer policy, or makes `document` its default version when the default differs
 * (a changed policy mode, or a new session-lab release). Unchanged content writes nothing.
 */
async function ensurePolicy(
  iam: IAMClient,
  policyArn: string,
  policyName: string,
  document: PolicyDocument,
  labId: string,
): Promise<void> {
  const PolicyDocument = JSON.stringify(document);
  try {
    await iam.send(
      new CreatePolicyCommand({
        PolicyName: policyName,
        PolicyDocument,
        Description: `Session Manager access of the session-lab workshop user of lab ${labId}`,
        Tags: labTags(labId),
      }),
    );
    return;
  } catch (err) {
    if (!isErrorNamed(err, 'EntityAlreadyExistsException')) throw err;
  }
  const { Policy } = await iam.send(new GetPolicyCommand({ PolicyArn: policyArn }));
  const { PolicyVersion } = await iam.send(
    new GetPolicyVersionCommand({ PolicyArn: policyArn, VersionId: Policy!.DefaultVersionId! }),
  );
  if (isDeepStrictEqual(parsePolicyDocument(PolicyVersion?.Document ?? '{}'), document)) return;

  await pruneOldestVersion(iam, policyArn);
  await iam.send(
    new CreatePolicyVersionCommand({ PolicyArn: policyArn, PolicyDocument, SetAsDefault: true }),
  );
}

/** At the five-version limit, deletes the oldest non-default version (the default cannot be deleted). */
async function pruneOldestVersion(iam: IAMClient, policyArn: string): Promise<void> {
  const { Versions = [] } = await iam.send(new ListPolicyVersionsCommand({ PolicyArn: policyArn }));
  if (Versions.length < MAX_POLICY_VERSIONS) return;
  const [oldest] = Versions.filter((version) => !version.IsDefaultVersion).sort(
    (a, b) => (a.CreateDate?.getTime() ?? 0) - (b.CreateDate?.getTime() ?? 0),
  );
  if (oldest?.VersionId) {
    await ignoreErrors(
      () => iam.send(new DeletePolicyVersionCommand({ PolicyArn: policyArn, VersionId: oldest.VersionId })),
      'NoSuchEntityException',
    );
  }
}

async function attachedPolicyArns(iam: IAMClient, userName: string): Promise<string[]> {
  const arns: string[] = [];
  for await (const page of paginateListAttachedUserPolicies({ client: iam }, { UserName: userName })) {
    for (const policy of page.AttachedPolicies ?? []) if (policy.PolicyArn) arns.push(policy.PolicyArn);
  }
  return arns;
}

/** NoSuchEntity right after CreateUser / CreatePolicy is IAM propagating (facts sheet 1.4). */
async function attach(iam: IAMClient, userName: string, policyArn: string): Promise<void> {
  try {
    await iam.send(new AttachUserPolicyCommand({ UserName: userName, PolicyArn: policyArn }));
  } catch (err) {
    if (isErrorNamed(err, 'NoSuchEntityException')) {
      throw new IamNotPropagatedYet(`${policyArn} or ${userName} is not visible to AttachUserPolicy yet`);
    }
    throw err;
  }
}
