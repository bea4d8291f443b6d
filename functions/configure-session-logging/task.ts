import { isDeepStrictEqual } from 'node:util';
import {
  AssociateKmsKeyCommand,
  CreateLogGroupCommand,
  PutRetentionPolicyCommand,
  paginateDescribeLogGroups,
  type CloudWatchLogsClient,
  type LogGroup,
} from '@aws-sdk/client-cloudwatch-logs';
import {
  CreateDocumentCommand,
  GetDocumentCommand,
  paginateListDocumentVersions,
  UpdateDocumentCommand,
  UpdateDocumentDefaultVersionCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { callerAccount, clientRegion } from '../shared/account.js';
import type { LabClients } from '../shared/clients.js';
import { ignoreErrors, isErrorNamed, LabStateMismatch, NotReadyYet } from '../shared/errors.js';
import { labConfigSchema, type LabConfig } from '../shared/lab-config.js';
import { SHARED_NAMES, partitionOf } from '../shared/names.js';
import { sharedUseSchema, useOrConverge } from '../shared/shared-resources.js';
import { sharedTags, toTagRecord } from '../shared/tags.js';
import {
  ensureLabSessionLoggingPolicy,
  ensureSessionLoggingPolicy,
  sessionLoggingPolicy,
  sessionLoggingPolicyName,
} from '../shared/session-logging.js';
import { sessionPreferences, type PreferencesDocument, type SessionPreferences } from './preferences.js';

/**
 * The log group and the preferences document are each a singleton with its own first holder:
 * only that lab converges it, the others check it and use it (`useOrConverge`).
 */
export const inputSchema = z.object({
  lab: labConfigSchema,
  logGroup: sharedUseSchema.optional(),
  preferences: sharedUseSchema.optional(),
});
export type Input = z.output<typeof inputSchema>;

export interface Output {
  logGroupName: string;
  documentName: string;
  /** The default version of the preferences document after the task, read back. */
  documentVersion: string;
  preferences: SessionPreferences;
}

const DOCUMENT = SHARED_NAMES.preferencesDocument;

/**
 * Seed task 5 with the logging steps of seed 001: the session log group (retention, optional KMS
 * key) and the Session Manager preferences that send sessions to it, read back and compared.
 * Both are shared by every lab in the Region: teardown leaves them in place.
 * Whoever converges the preferences first gives the shared roles the grants the nodes' agents
 * need to log there (shared/session-logging.ts), before the preferences name the group: a lab that finds
 * the preferences in place finds the grants too. Every lab also gives its own Dev host roles, when
 * they exist already, the logging policy for its own group and sessions (a lab provisioned again
 * with other settings keeps its hosts; new roles get it at creation).
 */
export async function configureSessionLogging(
  { lab, logGroup, preferences }: Input,
  { iam, logs, ssm, sts }: Pick<LabClients, 'iam' | 'logs' | 'ssm' | 'sts'>,
): Promise<Output> {
  const desired = sessionPreferences(lab);
  const scope = Promise.all([clientRegion(ssm), callerAccount(sts)]).then(([region, { accountId }]) => ({
    partition: partitionOf(region),
    region,
    accountId,
  }));
  const [, documentVersion] = await Promise.all([
    useOrConverge(
      logGroup ?? {},
      `log group ${lab.logGroupName}`,
      async () => {
        const group = await findLogGroup(logs, lab.logGroupName);
        if (!group) return undefined; // the first holder is creating it
        // There, with another retention or key than this lab's: nothing to wait for, it is set now.
        if (!logGroupAsWanted(group, lab)) await ensureLogGroup(logs, lab);
        return true;
      },
      () => ensureLogGroup(logs, lab).then(() => true),
    ),
    useOrConverge(
      preferences ?? {},
      DOCUMENT,
      async () => {
        const stored = await readDefaultDocument(ssm);
        return stored?.type === 'Session' && isDeepStrictEqual(stored.content, desired)
          ? stored.version
          : undefined;
      },
      async () => {
        const { region, ...rest } = await scope;
        await ensureSessionLoggingPolicy(
          iam,
          sessionLoggingPolicyName(region),
          sessionLoggingPolicy(lab, { region, ...rest }),
        );
        await ensurePreferences(ssm, desired);
        return verifyPreferences(ssm, desired);
      },
    ),
    // Every lab (holder or not): its own Dev host roles log to its own group and streams.
    scope.then((s) => ensureLabSessionLoggingPolicy(iam, lab, s)),
  ]);
  return {
    logGroupName: lab.logGroupName,
    documentName: DOCUMENT,
    documentVersion,
    preferences: desired.inputs,
  };
}

/**
 * Creates the log group, or reconciles an existing one: retention and the KMS key are settings a
 * previous run (or a person) may have left different. The tags mark only a group this task
 * created; an existing group is not claimed.
 */
async function ensureLogGroup(logs: CloudWatchLogsClient, lab: LabConfig): Promise<void> {
  const logGroupName = lab.logGroupName;
  const created = await ignoreErrors(
    () =>
      logs.send(
        new CreateLogGroupCommand({
          logGroupName,
          kmsKeyId: lab.logKmsKeyArn,
          tags: toTagRecord(sharedTags()),
        }),
      ),
    'ResourceAlreadyExistsException',
  );
  const existing = created ? undefined : await findLogGroup(logs, logGroupName);
  if (!created && !existing) {
    // It existed a moment ago: deleted concurrently; the next attempt creates it again.
    throw new NotReadyYet(`log group ${logGroupName} exists but cannot be described yet`);
  }
  if (existing?.retentionInDays !== lab.logRetentionDays) {
    await logs.send(new PutRetentionPolicyCommand({ logGroupName, retentionInDays: lab.logRetentionDays }));
  }
  // A group without the key would make the agent refuse every session once the preferences say
  // "encrypted". A key on the group with encryption off in the preferences is
  // harmless, so an existing key is never removed.
  if (existing && lab.logKmsKeyArn && existing.kmsKeyId !== lab.logKmsKeyArn) {
    await logs.send(new AssociateKmsKeyCommand({ logGroupName, kmsKeyId: lab.logKmsKeyArn }));
  }
}

/** A group another lab created is usable as it is when retention and key are the lab's. */
function logGroupAsWanted(group: LogGroup | undefined, lab: LabConfig): boolean {
  if (!group || group.retentionInDays !== lab.logRetentionDays) return false;
  return !lab.logKmsKeyArn || group.kmsKeyId === lab.logKmsKeyArn;
}

/** The log group named exactly `name`; DescribeLogGroups only filters by prefix. */
async function findLogGroup(logs: CloudWatchLogsClient, name: string): Promise<LogGroup | undefined> {
  for await (const page of paginateDescribeLogGroups({ client: logs }, { logGroupNamePrefix: name })) {
    const found = page.logGroups?.find((group) => group.logGroupName === name);
    if (found) return found;
  }
  return undefined;
}

interface StoredDocument {
  version: string;
  type: string;
  content: unknown;
}

/** The default version of the preferences document, or undefined when there is none yet. */
async function readDefaultDocument(ssm: SSMClient): Promise<StoredDocument | undefined> {
  const doc = await ignoreErrors(
    () => ssm.send(new GetDocumentCommand({ Name: DOCUMENT })),
    'InvalidDocument',
  );
  if (!doc) return undefined;
  let content: unknown;
  try {
    content = JSON.parse(doc.Content ?? '');
  } catch {
    content = undefined; // YAML or damaged: differs from ours, so it gets rewritten as JSON.
  }
  return { version: doc.DocumentVersion ?? '', type: doc.DocumentType ?? '', content };
}

/**
 * Create or update as docs/aws-behaviours.md#preferences-create-and-update describes, keeping the
 * default version equal to the latest. Skips every write when the default version already holds
 * these preferences: nightly resets would otherwise add a version each time, up to the
 * per-document limit.
 */
async function ensurePreferences(ssm: SSMClient, desired: PreferencesDocument): Promise<void> {
  const current = await readDefaultDocument(ssm);
  if (current && current.type !== 'Session') {
    // UpdateDocument cannot change a type: someone else's document holds the name.
    throw new LabStateMismatch(`${DOCUMENT} is a ${current.type} document, not a Session document`);
  }
  if (current && isDeepStrictEqual(current.content, desired)) return;

  const Content = JSON.stringify(desired, null, 2);
  try {
    await ssm.send(
      new CreateDocumentCommand({
        Name: DOCUMENT,
        Content,
        DocumentType: 'Session',
        DocumentFormat: 'JSON',
        Tags: sharedTags(),
      }),
    );
    return; // A new document's only version is its default.
  } catch (err) {
    if (!isErrorNamed(err, 'DocumentAlreadyExists')) throw err;
  }

  let latest: string | undefined;
  try {
    const updated = await ssm.send(
      new UpdateDocumentCommand({
        Name: DOCUMENT,
        Content,
        DocumentVersion: '$LATEST',
        DocumentFormat: 'JSON',
      }),
    );
    latest = updated.DocumentDescription?.LatestVersion ?? updated.DocumentDescription?.DocumentVersion;
  } catch (err) {
    if (!isErrorNamed(err, 'DuplicateDocumentContent')) throw err;
    // A version already holds these preferences, yet the default does not (checked above): a
    // previous run stopped between the update and the default switch, or the preferences go back
    // to ones an earlier version holds (lab A, then B, then A again). Make that version the default.
    latest = await versionHolding(ssm, desired);
    if (!latest)
      throw new LabStateMismatch(`${DOCUMENT}: SSM says a version holds these preferences, none does`);
  }
  if (latest && latest !== current?.version) {
    await ssm.send(new UpdateDocumentDefaultVersionCommand({ Name: DOCUMENT, DocumentVersion: latest }));
  }
}

/** The newest version of the preferences document whose content is `desired`. */
async function versionHolding(ssm: SSMClient, desired: PreferencesDocument): Promise<string | undefined> {
  const versions: string[] = [];
  for await (const page of paginateListDocumentVersions({ client: ssm }, { Name: DOCUMENT }))
    for (const version of page.DocumentVersions ?? [])
      if (version.DocumentVersion) versions.push(version.DocumentVersion);
  for (const version of versions.sort((a, b) => Number(b) - Number(a))) {
    const doc = await ssm.send(new GetDocumentCommand({ Name: DOCUMENT, DocumentVersion: version }));
    let content: unknown;
    try {
      content = JSON.parse(doc.Content ?? '');
    } catch {
      continue;
    }
    if (isDeepStrictEqual(content, desired)) return version;
  }
  return undefined;
}

/** Reads the default version back, as the console and sessions do, and returns its number. */
async function verifyPreferences(ssm: SSMClient, desired: PreferencesDocument): Promise<string> {
  const stored = await readDefaultDocument(ssm);
  if (!stored) throw new LabStateMismatch(`${DOCUMENT} does not exist after it was written`);
  if (stored.type !== 'Session') {
    throw new LabStateMismatch(`${DOCUMENT} is a ${stored.type} document, not a Session document`);
  }
  if (!isDeepStrictEqual(stored.content, desired)) {
    const differing = differingKeys(stored.content, desired);
    throw new LabStateMismatch(
      `${DOCUMENT} default version ${stored.version} differs from the lab's preferences in: ${differing.join(', ')}`,
    );
  }
  return stored.version;
}

/** The top-level and `inputs.*` keys whose values differ, to name in the error. */
function differingKeys(stored: unknown, desired: PreferencesDocument): string[] {
  const storedDoc = (stored ?? {}) as Record<string, unknown>;
  const storedInputs = (storedDoc.inputs ?? {}) as Record<string, unknown>;
  const keys = Object.keys(desired).filter(
    (key) =>
      key !== 'inputs' && !isDeepStrictEqual(storedDoc[key], desired[key as keyof PreferencesDocument]),
  );
  const inputKeys = new Set([...Object.keys(storedInputs), ...Object.keys(desired.inputs)]);
  for (const key of inputKeys) {
    if (!isDeepStrictEqual(storedInputs[key], desired.inputs[key as keyof SessionPreferences])) {
      keys.push(`inputs.${key}`);
    }
  }
  return keys.length > 0 ? keys : ['content'];
}
