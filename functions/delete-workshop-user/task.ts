import {
  DeactivateMFADeviceCommand,
  DeleteAccessKeyCommand,
  DeleteLoginProfileCommand,
  DeletePolicyCommand,
  DeletePolicyVersionCommand,
  DeleteSigningCertificateCommand,
  DeleteSSHPublicKeyCommand,
  DeleteUserCommand,
  DeleteUserPolicyCommand,
  DetachUserPolicyCommand,
  GetUserCommand,
  RemoveUserFromGroupCommand,
  paginateListAccessKeys,
  paginateListAttachedUserPolicies,
  paginateListEntitiesForPolicy,
  paginateListGroupsForUser,
  paginateListMFADevices,
  paginateListPolicyVersions,
  paginateListSigningCertificates,
  paginateListSSHPublicKeys,
  paginateListUserPolicies,
  type IAMClient,
} from '@aws-sdk/client-iam';
import * as z from 'zod';
import { callerAccount } from '../shared/account.js';
import type { LabClients } from '../shared/clients.js';
import { LabStateMismatch, ignoreErrors, isErrorNamed } from '../shared/errors.js';
import { labIdSchema, labNames } from '../shared/names.js';
import { deleteSecret, secretArn } from '../shared/secrets.js';
import { TAG_LAB_ID } from '../shared/tags.js';

export const inputSchema = z.object({ labId: labIdSchema });
export type Input = z.output<typeof inputSchema>;

export interface Output {
  userName: string;
  policyArn: string;
  passwordSecret: string;
  /** What this run removed; empty on a second run. */
  removed: string[];
}

const GONE = 'NoSuchEntityException';

/**
 * Teardown step 6: the workshop user, its customer policy and its password secret, in the order
 * docs/aws-behaviours.md#iam-teardown-order gives (deletes do not cascade; anything left makes
 * DeleteUser or DeletePolicy fail with DeleteConflict). Names come from the lab id, so it works without provisioning state.
 * NoSuchEntity means gone, everywhere. A same-named user without the lab's tag is not deleted.
 */
export async function deleteWorkshopUser(
  { labId }: Input,
  { iam, secrets, sts }: Pick<LabClients, 'iam' | 'secrets' | 'sts'>,
): Promise<Output> {
  const names = labNames(labId);
  const { partition, accountId } = await callerAccount(sts);
  const policyArn = `arn:${partition}:iam::${accountId}:policy/${names.userPolicy}`;
  const removed: string[] = [];

  const user = await ignoreErrors(() => iam.send(new GetUserCommand({ UserName: names.user })), GONE);
  if (user) {
    const owner = user.User?.Tags?.find((tag) => tag.Key === TAG_LAB_ID)?.Value;
    if (owner !== labId) {
      throw new LabStateMismatch(
        `IAM user ${names.user} is not tagged ${TAG_LAB_ID}=${labId}: not deleting it`,
      );
    }
    if (await untilGone(() => deleteUser(iam, names.user))) removed.push(`user ${names.user}`);
  }
  if (await untilGone(() => deletePolicy(iam, policyArn))) removed.push(`policy ${policyArn}`);
  if (await secretArn(secrets, names.passwordSecret)) {
    await deleteSecret(secrets, names.passwordSecret);
    removed.push(`secret ${names.passwordSecret}`);
  }
  return { userName: names.user, policyArn, passwordSecret: names.passwordSecret, removed };
}

/** Runs a multi-call delete; the entity vanishing part-way (another teardown) also means done. */
async function untilGone(remove: () => Promise<boolean>): Promise<boolean> {
  try {
    return await remove();
  } catch (err) {
    if (isErrorNamed(err, GONE)) return false;
    throw err;
  }
}

async function collect<P, T>(pages: AsyncIterable<P>, pick: (page: P) => T[] | undefined): Promise<T[]> {
  const items: T[] = [];
  for await (const page of pages) items.push(...(pick(page) ?? []));
  return items;
}

/** Everything attached to the user, then the user. Returns true when it existed. */
async function deleteUser(iam: IAMClient, UserName: string): Promise<boolean> {
  const client = { client: iam };
  await ignoreErrors(() => iam.send(new DeleteLoginProfileCommand({ UserName })), GONE);

  const attached = await collect(
    paginateListAttachedUserPolicies(client, { UserName }),
    (p) => p.AttachedPolicies,
  );
  for (const { PolicyArn } of attached) {
    await ignoreErrors(() => iam.send(new DetachUserPolicyCommand({ UserName, PolicyArn })), GONE);
  }
  const inline = await collect(paginateListUserPolicies(client, { UserName }), (p) => p.PolicyNames);
  for (const PolicyName of inline) {
    await ignoreErrors(() => iam.send(new DeleteUserPolicyCommand({ UserName, PolicyName })), GONE);
  }
  const keys = await collect(paginateListAccessKeys(client, { UserName }), (p) => p.AccessKeyMetadata);
  for (const { AccessKeyId } of keys) {
    await ignoreErrors(() => iam.send(new DeleteAccessKeyCommand({ UserName, AccessKeyId })), GONE);
  }
  const groups = await collect(paginateListGroupsForUser(client, { UserName }), (p) => p.Groups);
  for (const { GroupName } of groups) {
    await ignoreErrors(() => iam.send(new RemoveUserFromGroupCommand({ UserName, GroupName })), GONE);
  }
  // The workshop policy grants none of these, but an administrator may have added them, and any
  // one left makes DeleteUser fail. Service-specific credentials (CodeCommit,
  // Keyspaces) are not looked for: one would surface as DeleteConflictException, not be hidden.
  const mfa = await collect(paginateListMFADevices(client, { UserName }), (p) => p.MFADevices);
  for (const { SerialNumber } of mfa) {
    await ignoreErrors(() => iam.send(new DeactivateMFADeviceCommand({ UserName, SerialNumber })), GONE);
  }
  const sshKeys = await collect(paginateListSSHPublicKeys(client, { UserName }), (p) => p.SSHPublicKeys);
  for (const { SSHPublicKeyId } of sshKeys) {
    await ignoreErrors(() => iam.send(new DeleteSSHPublicKeyCommand({ UserName, SSHPublicKeyId })), GONE);
  }
  const certificates = await collect(
    paginateListSigningCertificates(client, { UserName }),
    (p) => p.Certificates,
  );
  for (const { CertificateId } of certificates) {
    await ignoreErrors(
      () => iam.send(new DeleteSigningCertificateCommand({ UserName, CertificateId })),
      GONE,
    );
  }
  const deleted = await ignoreErrors(() => iam.send(new DeleteUserCommand({ UserName })), GONE);
  return deleted !== undefined;
}

/**
 * Detach from users, delete the non-default versions, then the policy (which takes the default
 * version with it). Returns true when it existed. An attachment to a group or role was made
 * outside session-lab: reported, not undone.
 */
async function deletePolicy(iam: IAMClient, PolicyArn: string): Promise<boolean> {
  const client = { client: iam };
  const entities = await collect(paginateListEntitiesForPolicy(client, { PolicyArn }), (page) => [page]);
  const users = entities.flatMap((e) => e.PolicyUsers ?? []);
  const others = [
    ...entities.flatMap((e) => e.PolicyGroups ?? []).map((g) => `group ${g.GroupName}`),
    ...entities.flatMap((e) => e.PolicyRoles ?? []).map((r) => `role ${r.RoleName}`),
  ];
  if (others.length > 0) {
    throw new LabStateMismatch(
      `${PolicyArn} is attached outside session-lab (${others.join(', ')}): detach it by hand`,
    );
  }
  for (const { UserName } of users) {
    await ignoreErrors(() => iam.send(new DetachUserPolicyCommand({ UserName, PolicyArn })), GONE);
  }
  const versions = await collect(paginateListPolicyVersions(client, { PolicyArn }), (p) => p.Versions);
  for (const { VersionId, IsDefaultVersion } of versions) {
    if (IsDefaultVersion) continue;
    await ignoreErrors(() => iam.send(new DeletePolicyVersionCommand({ PolicyArn, VersionId })), GONE);
  }
  const deleted = await ignoreErrors(() => iam.send(new DeletePolicyCommand({ PolicyArn })), GONE);
  return deleted !== undefined;
}
