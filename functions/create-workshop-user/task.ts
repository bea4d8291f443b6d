import { isDeepStrictEqual } from 'node:util';
import {
  AttachUserPolicyCommand,
  CreateLoginProfileCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateUserCommand,
  DeletePolicyVersionCommand,
  DetachUserPolicyCommand,
  GetAccountPasswordPolicyCommand,
  GetLoginProfileCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetUserCommand,
  ListPolicyVersionsCommand,
  UpdateLoginProfileCommand,
  paginateListAttachedUserPolicies,
  type IAMClient,
  type User,
} from '@aws-sdk/client-iam';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import * as z from 'zod';
import { clientPartition } from '../shared/account.js';
import type { LabClients } from '../shared/clients.js';
import {
  IamNotPropagatedYet,
  LabStateMismatch,
  NotReadyYet,
  ignoreErrors,
  isErrorNamed,
} from '../shared/errors.js';
import { parsePolicyDocument } from '../shared/iam-roles.js';
import { labConfigSchema } from '../shared/lab-config.js';
import { isSupersededUserPolicy, labNames, managedPolicies } from '../shared/names.js';
import { pollUntil } from '../shared/polling.js';
import { findSecret, generatePassword, putSecret, tagSecret } from '../shared/secrets.js';
import { TAG_LAB_ID, TAG_RUN_ID, labTags, toTagList } from '../shared/tags.js';
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

/** IAM keeps at most five versions of a managed policy. */
const MAX_POLICY_VERSIONS = 5;

/** The default account password policy's minimum length, when no custom policy is set. */
const DEFAULT_MIN_PASSWORD_LENGTH = 8;

/**
 * How long after CreateUser this invocation keeps re-sending a write IAM refuses with NoSuchEntity
 * because the new user is not visible yet (docs/aws-behaviours.md#iam-propagation: no published
 * bound). 30 s is three times the 10 s the benchmark models, and a sixth of the 180 s Lambda
 * timeout (infra/functions.ts): the rest is
 * left to the dozen calls' SDK back-off, which under the 200-lab IAM throttling used up whole
 * timeouts of other IAM tasks (bench/README.md). A slower IAM ends the wait with
 * IamNotPropagatedYet, which the workflow's Retry re-runs as before. One budget for the whole
 * invocation, not one per write, so several refused writes cannot add up past it.
 */
const PROPAGATION_BUDGET_SECONDS = 30;
/**
 * The waiter's back-off: 5 s, then 5-10 s apart (jittered). Slow on purpose: every refused write
 * spends one of IAM's account-wide write tokens, which a class's labs share (a 1-2-4 s back-off
 * spent four refused CreateLoginProfile calls in the one-lab benchmark's 10 s window), and the user
 * is off the critical path: it runs beside the hosts, which take a minute longer (bench/README.md).
 */
const PROPAGATION_MIN_DELAY_SECONDS = 5;
const PROPAGATION_MAX_DELAY_SECONDS = 10;

interface LabUser {
  name: string;
  arn: string;
  /** Only for a user this invocation created: the epoch ms its propagation budget ends. */
  waitUntil?: number;
}

/**
 * Seed task 4: the lab's IAM user with a console password and its customer policy, checked
 * afterwards like the seed's list-attached-user-policies step. The seed's read-only managed
 * policies (CloudWatch Logs, CloudTrail) are not attached: they read every student's transcripts
 * and the whole account's activity; the customer policy grants the user's own transcripts instead
 * (`isSupersededUserPolicy`: a user that holds them from an earlier release has them detached).
 * IAMUserChangePassword is attached: the API, unlike the console, does not add it, and
 * without it a user whose password must be reset cannot finish signing in.
 */
export async function createWorkshopUser(
  { lab }: Input,
  { iam, secrets }: Pick<LabClients, 'iam' | 'secrets'>,
): Promise<Output> {
  const names = labNames(lab.labId);
  const partition = await clientPartition(iam);
  const user = await ensureUser(iam, names.user, lab.labId);

  // What does not need the user to be visible comes first: it spends IAM's propagation window.
  const policyArn = `${iamArnPrefix(user.arn)}:policy/${names.userPolicy}`;
  await ensurePolicy(
    iam,
    policyArn,
    names.userPolicy,
    workshopUserPolicy(lab.policyMode, lab.labId, partition, lab.logGroupName),
    lab.labId,
  );
  const passwordSecretArn =
    (user.waitUntil === undefined && (await passwordSetByRun(secrets, names.passwordSecret, lab.runId))) ||
    (await setPassword(iam, secrets, user, names.passwordSecret, lab));
  const attachedPolicies = await attachRequired(iam, user, [
    policyArn,
    managedPolicies(partition).userChangePassword,
  ]);
  return { userName: user.name, userArn: user.arn, policyArn, passwordSecretArn, attachedPolicies };
}

/**
 * A fresh password for every provisioning run, stored before it is set, so the secret never lags
 * behind the login profile for longer than one call: a run after a crash rotates the password
 * rather than trusting a secret that may not match the profile. Once the profile has it, the
 * secret is tagged with the run, which `passwordSetByRun` reads. Returns the secret's ARN.
 */
async function setPassword(
  iam: IAMClient,
  secrets: SecretsManagerClient,
  user: LabUser,
  secretName: string,
  lab: Input['lab'],
): Promise<string> {
  const password = generatePassword(await minPasswordLength(iam));
  const arn = await putSecret(secrets, secretName, password, labTags(lab.labId));
  await setLoginProfile(iam, user, password);
  await tagSecret(secrets, arn, toTagList({ [TAG_RUN_ID]: lab.runId }));
  return arn;
}

/**
 * The password secret's ARN when this run already set the password: a retried invocation (the
 * workflow retries this task while IAM propagates, and after throttling that outlasted an
 * invocation) keeps it, and spends no IAM call on it. Under a
 * class's IAM throttling a retry that rotated it again cost two IAM reads and a write, the scarce
 * rates (bench/README.md). Another run's tag, or none, means rotate.
 */
async function passwordSetByRun(
  secrets: SecretsManagerClient,
  secretName: string,
  runId: string,
): Promise<string | undefined> {
  const secret = await findSecret(secrets, secretName);
  return secret?.tags[TAG_RUN_ID] === runId ? secret.arn : undefined;
}

/** `arn:<partition>:iam::<account>` from the user's ARN: no extra call for the account id. */
function iamArnPrefix(userArn: string): string {
  const [arn, partition, service, , account] = userArn.split(':');
  return [arn, partition, service, '', account].join(':');
}

/**
 * Adopts the user when it exists and carries this lab's tag, or creates it. Read first: a run
 * retried after throttling or a crash then spends no IAM write on the user it made, and writes are
 * IAM's scarcest rate (a class of 200 labs queued on them: bench/README.md). A same-named user
 * without the tag is someone else's: its password is not reset.
 */
async function ensureUser(iam: IAMClient, userName: string, labId: string): Promise<LabUser> {
  const existing = await getUser(iam, userName);
  if (existing) return adoptUser(existing, userName, labId);
  try {
    const { User } = await iam.send(new CreateUserCommand({ UserName: userName, Tags: labTags(labId) }));
    return { name: userName, arn: User!.Arn!, waitUntil: Date.now() + PROPAGATION_BUDGET_SECONDS * 1000 };
  } catch (err) {
    if (!isErrorNamed(err, 'EntityAlreadyExistsException')) throw err;
  }
  // IAM has the user (an earlier attempt's CreateUser whose answer was lost) but reads do not show
  // it yet.
  const created = await getUser(iam, userName);
  if (!created) throw new IamNotPropagatedYet(`IAM user ${userName} exists but GetUser does not see it yet`);
  return adoptUser(created, userName, labId);
}

async function getUser(iam: IAMClient, userName: string): Promise<User | undefined> {
  const found = await ignoreErrors(
    () => iam.send(new GetUserCommand({ UserName: userName })),
    'NoSuchEntityException',
  );
  return found?.User;
}

function adoptUser(user: User, userName: string, labId: string): LabUser {
  const owner = user.Tags?.find((tag) => tag.Key === TAG_LAB_ID)?.Value;
  if (owner !== labId) {
    throw new LabStateMismatch(
      `IAM user ${userName} exists without the tag ${TAG_LAB_ID}=${labId}: not this lab's`,
    );
  }
  return { name: userName, arn: user.Arn! };
}

async function minPasswordLength(iam: IAMClient): Promise<number> {
  const policy = await ignoreErrors(
    () => iam.send(new GetAccountPasswordPolicyCommand({})),
    'NoSuchEntityException', // no custom policy: the default one applies
  );
  return policy?.PasswordPolicy?.MinimumPasswordLength ?? DEFAULT_MIN_PASSWORD_LENGTH;
}

/**
 * Sets the password: CreateLoginProfile for a user without a login profile, UpdateLoginProfile for
 * one with. A user this invocation created has none; for an adopted one GetLoginProfile (a read)
 * tells which, so a rerun spends one IAM write here, not a refused create and then an update.
 */
async function setLoginProfile(iam: IAMClient, user: LabUser, password: string): Promise<void> {
  const profile = { UserName: user.name, Password: password, PasswordResetRequired: true };
  const hasProfile = user.waitUntil === undefined && (await loginProfileExists(iam, user.name));
  if (!hasProfile) {
    try {
      await sendWhenVisible(user, 'CreateLoginProfile', () =>
        iam.send(new CreateLoginProfileCommand(profile)),
      );
      return;
    } catch (err) {
      if (!isErrorNamed(err, 'EntityAlreadyExistsException')) throw err;
    }
  }
  try {
    await iam.send(new UpdateLoginProfileCommand(profile));
  } catch (err) {
    if (isErrorNamed(err, 'EntityTemporarilyUnmodifiableException')) {
      throw new NotReadyYet(`the login profile of ${user.name} cannot be modified yet`);
    }
    throw err;
  }
}

async function loginProfileExists(iam: IAMClient, userName: string): Promise<boolean> {
  const found = await ignoreErrors(
    () => iam.send(new GetLoginProfileCommand({ UserName: userName })),
    'NoSuchEntityException',
  );
  return found !== undefined;
}

/**
 * Sends a write that needs the user. While IAM answers NoSuchEntity for a user this invocation
 * created, the write is re-sent until the propagation budget ends; then, or at
 * once for an adopted user, it is IamNotPropagatedYet for the workflow's Retry. An adopted user
 * can still be propagating (an earlier run failed right after CreateUser, or the SDK resent a
 * CreateUser whose answer was lost), but nothing tells how young it is, and for an older one the
 * NoSuchEntity is not propagation: so no wait is anchored on it. Another error ends it at once.
 */
async function sendWhenVisible(
  user: LabUser,
  operation: string,
  write: () => Promise<unknown>,
): Promise<void> {
  const sent = await pollUntil(
    async () => {
      try {
        await write();
        return true;
      } catch (err) {
        if (isErrorNamed(err, 'NoSuchEntityException')) return undefined;
        throw err;
      }
    },
    {
      maxWaitSeconds: user.waitUntil === undefined ? 0 : (user.waitUntil - Date.now()) / 1000,
      minDelaySeconds: PROPAGATION_MIN_DELAY_SECONDS,
      maxDelaySeconds: PROPAGATION_MAX_DELAY_SECONDS,
    },
  );
  if (!sent) {
    throw new IamNotPropagatedYet(`${operation} answered NoSuchEntity for ${user.name}: not visible yet`);
  }
}

/**
 * Creates the customer policy, or makes `document` its default version when the default differs
 * (a changed policy mode, or a new session-lab release). Unchanged content writes nothing. Read
 * first, like the user, so a retried run writes nothing for a policy it made.
 */
async function ensurePolicy(
  iam: IAMClient,
  policyArn: string,
  policyName: string,
  document: PolicyDocument,
  labId: string,
): Promise<void> {
  const PolicyDocument = JSON.stringify(document);
  let defaultVersionId = await defaultVersionOf(iam, policyArn);
  if (defaultVersionId === undefined) {
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
    defaultVersionId = await defaultVersionOf(iam, policyArn);
    if (defaultVersionId === undefined) {
      throw new IamNotPropagatedYet(`policy ${policyName} exists but GetPolicy does not see it yet`);
    }
  }
  const { PolicyVersion } = await iam.send(
    new GetPolicyVersionCommand({ PolicyArn: policyArn, VersionId: defaultVersionId }),
  );
  if (isDeepStrictEqual(parsePolicyDocument(PolicyVersion?.Document ?? '{}'), document)) return;

  await pruneOldestVersion(iam, policyArn);
  await iam.send(
    new CreatePolicyVersionCommand({ PolicyArn: policyArn, PolicyDocument, SetAsDefault: true }),
  );
}

/** The policy's default version id, or undefined when there is no such policy. */
async function defaultVersionOf(iam: IAMClient, policyArn: string): Promise<string | undefined> {
  const found = await ignoreErrors(
    () => iam.send(new GetPolicyCommand({ PolicyArn: policyArn })),
    'NoSuchEntityException',
  );
  return found?.Policy?.DefaultVersionId;
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

/**
 * Attaches the `required` policies the user lacks and returns what is attached afterwards, checked
 * like the seed's list-attached-user-policies step. Attaching an attached policy is believed to be
 * a silent no-op, but that is unconfirmed: only the missing ones are attached. A
 * user this invocation created has none yet, so it is not listed before.
 */
async function attachRequired(iam: IAMClient, user: LabUser, required: string[]): Promise<string[]> {
  const listed = user.waitUntil === undefined;
  const before = listed ? await attachedPolicyArns(iam, user.name) : [];
  const missing = required.filter((arn) => !before.includes(arn));
  const superseded = before.filter(isSupersededUserPolicy);
  // Nothing to change: the list just read is the check (one IAM read fewer on a retried run).
  if (listed && missing.length === 0 && superseded.length === 0) return before.sort();
  for (const arn of superseded) {
    await ignoreErrors(
      () => iam.send(new DetachUserPolicyCommand({ UserName: user.name, PolicyArn: arn })),
      'NoSuchEntityException',
    );
  }
  for (const arn of missing) {
    await sendWhenVisible(user, `AttachUserPolicy ${arn}`, () =>
      iam.send(new AttachUserPolicyCommand({ UserName: user.name, PolicyArn: arn })),
    );
  }
  const attached = (await attachedPolicyArns(iam, user.name)).sort();
  const absent = required.filter((arn) => !attached.includes(arn));
  if (absent.length > 0) {
    throw new LabStateMismatch(
      `${user.name} is missing attached policies after attaching: ${absent.join(', ')}`,
    );
  }
  const kept = attached.filter(isSupersededUserPolicy);
  if (kept.length > 0) {
    throw new LabStateMismatch(`${user.name} still holds after detaching: ${kept.join(', ')}`);
  }
  return attached;
}

async function attachedPolicyArns(iam: IAMClient, userName: string): Promise<string[]> {
  const arns: string[] = [];
  for await (const page of paginateListAttachedUserPolicies({ client: iam }, { UserName: userName })) {
    for (const policy of page.AttachedPolicies ?? []) if (policy.PolicyArn) arns.push(policy.PolicyArn);
  }
  return arns;
}
