import { GetDocumentCommand } from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { readActivationTier } from '../shared/activation-tier.js';
import type { LabClients } from '../shared/clients.js';
import { ignoreErrors } from '../shared/errors.js';
import { labConfigSchema, type LabConfig } from '../shared/lab-config.js';
import { logger } from '../shared/logger.js';
import { SHARED_NAMES } from '../shared/names.js';
import type { LabRegistry } from '../shared/registry/lab-registry.js';
import type { SharedLocks } from '../shared/registry/shared-locks.js';
import type { SharedAcquisition } from '../shared/registry/shared-record.js';
import {
  SHARED_KEYS,
  preferencesConfig,
  type DocumentSnapshot,
  type TierSnapshot,
} from '../shared/shared-resources.js';

export const inputSchema = z.object({ lab: labConfigSchema }).strict();
export type AcquireSharedResourcesInput = { lab: LabConfig };

type Singleton = 'advancedTier' | 'preferences' | 'logGroup' | 'sharedRoles';

export interface AcquireSharedResourcesOutput {
  labId: string;
  /** `disabled`: the deployment has no registry, so no lock: every lab ensures every singleton. */
  registry: 'enabled' | 'disabled';
  /** Per singleton: this lab is its first holder and must create / set it (the others only use it). */
  mustCreate: Record<Singleton, boolean>;
  /** How many labs hold each singleton now, this one included. */
  holders: Record<Singleton, number>;
  /** When each singleton's current holding began: how long its first holder has had to create it. */
  heldSince: Record<Singleton, string>;
}

/**
 * The account's tier and preferences document before anything is changed: what a revert restores.
 * Read only by a lab that finds the singleton free (its first holder), never by the labs joining.
 */
async function tierSnapshot(clients: Pick<LabClients, 'ssm' | 'sts'>): Promise<TierSnapshot> {
  return { value: (await readActivationTier(clients)).value };
}

async function documentSnapshot(clients: Pick<LabClients, 'ssm'>): Promise<DocumentSnapshot> {
  const document = await ignoreErrors(
    () => clients.ssm.send(new GetDocumentCommand({ Name: SHARED_NAMES.preferencesDocument })),
    'InvalidDocument',
  );
  return document
    ? { exists: true, content: document.Content, format: document.DocumentFormat }
    : { exists: false };
}

/**
 * Takes this lab's reference on every account-wide singleton before provisioning touches them.
 * Of any number of concurrent provisions exactly one is the first holder of each singleton and is
 * told to create / set it; the rest find it held. The first holder also records the account's
 * state before session-lab (tier value, preferences document), which the last release restores
 * when the deployment reverts; the labs joining a holding read nothing of the account.
 * Idempotent: a retried acquisition gives the same answer. A lab whose preferences differ from
 * the ones the current holders share is refused (SharedSettingConflict, naming the field): the
 * document is account-wide and would change under the other students. A refused lab gives back
 * the references it took, so it holds none.
 */
export async function acquireSharedResources(
  input: AcquireSharedResourcesInput,
  deps: { registry?: LabRegistry; clients: Pick<LabClients, 'ssm' | 'sts'> },
): Promise<AcquireSharedResourcesOutput> {
  const { lab } = input;
  const keys: Record<Singleton, string> = {
    advancedTier: SHARED_KEYS.advancedTier,
    preferences: SHARED_KEYS.preferences,
    logGroup: SHARED_KEYS.logGroup(lab.logGroupName),
    sharedRoles: SHARED_KEYS.sharedRoles,
  };
  const singletons = Object.keys(keys) as Singleton[];
  const locks = deps.registry?.locks;
  if (!locks) {
    logger.warn('no registry configured: shared resources are ensured by every lab, without a lock');
    const now = new Date().toISOString();
    return {
      labId: lab.labId,
      registry: 'disabled',
      mustCreate: { advancedTier: true, preferences: true, logGroup: true, sharedRoles: true },
      holders: { advancedTier: 1, preferences: 1, logGroup: 1, sharedRoles: 1 },
      heldSince: { advancedTier: now, preferences: now, logGroup: now, sharedRoles: now },
    };
  }
  const options: Record<Singleton, Parameters<SharedLocks['acquireShared']>[2]> = {
    advancedTier: { snapshot: async () => ({ ...(await tierSnapshot(deps.clients)) }) },
    preferences: {
      snapshot: async () => ({ ...(await documentSnapshot(deps.clients)) }),
      config: preferencesConfig(lab),
    },
    logGroup: {},
    sharedRoles: {},
  };
  const settled = await Promise.allSettled(
    singletons.map((name) => locks.acquireShared(keys[name], lab.labId, options[name])),
  );
  const refused = settled.find((result) => result.status === 'rejected');
  if (refused) {
    // All or nothing: give back what was taken, so a refused lab holds no reference.
    await Promise.all(
      singletons
        .filter((_, i) => settled[i]!.status === 'fulfilled')
        .map((name) => locks.releaseShared(keys[name], lab.labId, { revertOnLast: false })),
    );
    throw refused.reason;
  }
  const acquired = settled.map((result) => (result as PromiseFulfilledResult<SharedAcquisition>).value);
  const mustCreate = {} as Record<Singleton, boolean>;
  const holders = {} as Record<Singleton, number>;
  const heldSince = {} as Record<Singleton, string>;
  singletons.forEach((name, i) => {
    mustCreate[name] = acquired[i]!.firstHolder;
    holders[name] = acquired[i]!.holderCount;
    heldSince[name] = acquired[i]!.heldSince;
  });
  return { labId: lab.labId, registry: 'enabled', mustCreate, holders, heldSince };
}
