import {
  CreateDocumentCommand,
  DeleteDocumentCommand,
  ResetServiceSettingCommand,
  UpdateDocumentCommand,
  UpdateDocumentDefaultVersionCommand,
  type DocumentFormat,
} from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { callerAccount, clientRegion } from '../shared/account.js';
import type { LabClients } from '../shared/clients.js';
import { ignoreErrors, isErrorNamed } from '../shared/errors.js';
import { runIdSchema } from '../shared/lab-config.js';
import { logger } from '../shared/logger.js';
import { SHARED_NAMES, activationTierArn, labIdSchema } from '../shared/names.js';
import { isResetTeardown } from '../shared/registry/lab-record.js';
import type { LabRegistry } from '../shared/registry/lab-registry.js';
import { removeSessionLoggingPolicy, sessionLoggingPolicyName } from '../shared/session-logging.js';
import {
  REVERTIBLE_KEYS,
  SHARED_KEYS,
  type DocumentSnapshot,
  type TierSnapshot,
} from '../shared/shared-resources.js';

export const inputSchema = z
  .object({
    labId: labIdSchema,
    /** `$$.Execution.Name`: a reset's own teardown keeps the references for the provision that follows. */
    executionName: runIdSchema.optional(),
  })
  .strict();
export type ReleaseSharedResourcesInput = z.output<typeof inputSchema>;

export type RevertAction = 'reset' | 'restored' | 'deleted' | 'kept';

export interface ReleaseSharedResourcesOutput {
  labId: string;
  registry: 'enabled' | 'disabled';
  /** The singletons this call released. */
  released: string[];
  /** The lab was the last holder of the tier or the preferences: nobody else uses them now. */
  lastHolder: boolean;
  /** The deployment reverts shared settings on the last release (REVERT_SHARED_ON_LAST_RELEASE). */
  revert: boolean;
  /** What was done to each reverted singleton (`kept`: the account had it that way before session-lab). */
  reverted: { key: string; action: RevertAction }[];
  /** Set when nothing was released on purpose. */
  reason?: string;
}

type RevertClients = Pick<LabClients, 'iam' | 'ssm' | 'sts'>;

/** Puts the tier back to the AWS default, unless the account was on advanced before session-lab. */
async function revertTier(previous: TierSnapshot | undefined, clients: RevertClients): Promise<RevertAction> {
  if (!previous || previous.value === 'advanced') return 'kept';
  const [region, { accountId }] = await Promise.all([clientRegion(clients.ssm), callerAccount(clients.sts)]);
  await clients.ssm.send(new ResetServiceSettingCommand({ SettingId: activationTierArn(region, accountId) }));
  return 'reset';
}

/**
 * Restores the preferences document the account had, or deletes it when it had none, and takes
 * back the session logging grants configure-session-logging gave the shared roles
 * with it: the preferences no longer name session-lab's log group or bucket.
 */
async function revertPreferences(
  previous: DocumentSnapshot | undefined,
  clients: RevertClients,
): Promise<RevertAction> {
  if (!previous) return 'kept';
  const action = await restorePreferences(previous, clients);
  await removeSessionLoggingPolicy(clients.iam, sessionLoggingPolicyName(await clientRegion(clients.ssm)));
  return action;
}

async function restorePreferences(
  previous: DocumentSnapshot,
  clients: RevertClients,
): Promise<Exclude<RevertAction, 'kept' | 'reset'>> {
  const Name = SHARED_NAMES.preferencesDocument;
  if (!previous.exists || !previous.content) {
    await ignoreErrors(() => clients.ssm.send(new DeleteDocumentCommand({ Name })), 'InvalidDocument');
    return 'deleted';
  }
  const DocumentFormat = (previous.format ?? 'JSON') as DocumentFormat;
  try {
    const updated = await clients.ssm.send(
      new UpdateDocumentCommand({
        Name,
        Content: previous.content,
        DocumentVersion: '$LATEST',
        DocumentFormat,
      }),
    );
    const latest = updated.DocumentDescription?.LatestVersion;
    if (latest) {
      await clients.ssm.send(new UpdateDocumentDefaultVersionCommand({ Name, DocumentVersion: latest }));
    }
  } catch (err) {
    if (isErrorNamed(err, 'DuplicateDocumentContent')) return 'restored';
    if (!isErrorNamed(err, 'InvalidDocument')) throw err;
    await clients.ssm.send(
      new CreateDocumentCommand({ Name, Content: previous.content, DocumentType: 'Session', DocumentFormat }),
    );
  }
  return 'restored';
}

/**
 * Gives back this lab's references on the account-wide singletons (found by holder in the
 * registry, whatever the lab's options were). Exactly one lab, the last holder, is told so; when
 * the deployment reverts shared settings, that same call claims the revert under the registry's
 * lock and puts the tier and the preferences document back as they were before session-lab, so a
 * lab provisioning meanwhile either keeps them (it acquired first) or waits for the revert.
 * A retry after a crash finishes a revert this lab started. A reset's own teardown releases
 * nothing: the lab provisions again at once.
 */
export async function releaseSharedResources(
  input: ReleaseSharedResourcesInput,
  deps: { registry?: LabRegistry; clients: RevertClients; revertOnLastRelease: boolean },
): Promise<ReleaseSharedResourcesOutput> {
  const { labId } = input;
  const revert = deps.revertOnLastRelease;
  const result: ReleaseSharedResourcesOutput = {
    labId,
    registry: deps.registry ? 'enabled' : 'disabled',
    released: [],
    lastHolder: false,
    revert,
    reverted: [],
  };
  const registry = deps.registry;
  if (!registry) return { ...result, reason: 'no registry configured: nothing is counted, nothing reverted' };
  const lab = await registry.labs.getLab(labId);
  if (lab && isResetTeardown(lab, input.executionName)) {
    return { ...result, reason: 'a reset keeps its shared resources for the provision that follows' };
  }
  const held = await registry.locks.sharedHeldBy(labId);
  const releases = await Promise.all(
    held.map((shared) =>
      registry.locks.releaseShared(shared.key, labId, {
        revertOnLast: revert && REVERTIBLE_KEYS.includes(shared.key),
      }),
    ),
  );
  result.released = releases.filter((r) => r.released).map((r) => r.key);
  const last = releases.filter((r) => r.lastHolder && REVERTIBLE_KEYS.includes(r.key)).map((r) => r.key);
  result.lastHolder = last.length > 0;
  if (!revert) return result;
  for (const key of last) {
    const claimed = await registry.locks.claimRevert(key, labId);
    if (!claimed) continue; // another lab acquired it in between: it stays as it is
    const action =
      key === SHARED_KEYS.advancedTier
        ? await revertTier(claimed.previous as TierSnapshot | undefined, deps.clients)
        : await revertPreferences(claimed.previous as DocumentSnapshot | undefined, deps.clients);
    await registry.locks.finishRevert(key, labId);
    logger.info('reverted a shared setting after its last lab', { key, action });
    result.reverted.push({ key, action });
  }
  return result;
}
