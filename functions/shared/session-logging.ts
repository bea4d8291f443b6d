import {
  DeleteRolePolicyCommand,
  GetRoleCommand,
  PutRolePolicyCommand,
  type IAMClient,
} from '@aws-sdk/client-iam';
import { ignoreErrors, isErrorNamed, NotReadyYet } from './errors.js';
import { readInlinePolicy, samePolicy, type PolicyDocument } from './iam-roles.js';
import type { LabConfig } from './lab-config.js';
import { SHARED_NAMES, labNames } from './names.js';
import { pollUntil } from './polling.js';
import { findSessionLogGroupStatement } from './session-log-statements.js';

/**
 * What the nodes' own roles need for the session logging the preferences ask for. Session Manager
 * logs from the node: its agent, with the node's credentials (SSMLabRole for the EC2 hosts,
 * SSMServiceRole for the hybrid nodes), looks the log group up with DescribeLogGroups (and with
 * encryption required refuses the session when it cannot see the group's key), then creates a
 * stream and puts the transcript; with a bucket it checks the bucket's encryption and uploads
 * the log there. AmazonSSMManagedInstanceCore holds none of these.
 * configure-session-logging puts them with the preferences; release-shared-resources removes them
 * when the last lab's release puts the account's own preferences back.
 */

/** The shared roles whose nodes write session logs. */
export const SESSION_LOGGING_ROLES = [SHARED_NAMES.instanceRole, SHARED_NAMES.serviceRole] as const;

/**
 * The inline policy's name on those roles. IAM roles are global but the preferences, the log group
 * and the bucket are a Region's, so each Region where labs run has its own policy.
 */
export const sessionLoggingPolicyName = (region: string) => `SessionLabSessionLogging-${region}`;

export interface PolicyScope {
  partition: string;
  region: string;
  accountId: string;
}

/**
 * The session logging grants for a lab's settings, and nothing more:
 * - DescribeLogGroups is a list call authorized against no particular group (the request's
 *   resource is `log-group::log-stream:`), so it is granted on the account's groups in the Region;
 * - stream creation, the stream look-up and the events only on the lab's group;
 * - with `s3BucketName`, uploads into the bucket and the read of its encryption setting, while the
 *   bucket belongs to the lab's account.
 * The KMS key of `logKmsKeyArn` needs no grant here: CloudWatch Logs encrypts with it under the
 * key's own policy, and the preferences leave the session data key (`kmsKeyId`) empty
 * (configure-session-logging/preferences.ts), which is what would make the node use a key itself.
 */
export function sessionLoggingPolicy(
  lab: Pick<LabConfig, 'logGroupName' | 's3BucketName'>,
  { partition, region, accountId }: PolicyScope,
): PolicyDocument {
  const logs = `arn:${partition}:logs:${region}:${accountId}`;
  const group = `${logs}:log-group:${lab.logGroupName}`;
  const statements: PolicyDocument['Statement'] = [
    findSessionLogGroupStatement(logs),
    {
      Sid: 'WriteSessionLogs',
      Effect: 'Allow',
      Action: ['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents'],
      Resource: [group, `${group}:*`],
    },
  ];
  if (lab.s3BucketName) {
    const bucket = `arn:${partition}:s3:::${lab.s3BucketName}`;
    // Only while the bucket is the account's: a bucket name is global, and one deleted and
    // re-created by another account must not receive the transcripts.
    const ownBucket = { StringEquals: { 's3:ResourceAccount': accountId } };
    statements.push(
      {
        Sid: 'UploadSessionLogs',
        Effect: 'Allow',
        Action: 's3:PutObject',
        Resource: `${bucket}/*`,
        Condition: ownBucket,
      },
      {
        Sid: 'CheckSessionLogBucketEncryption',
        Effect: 'Allow',
        Action: 's3:GetEncryptionConfiguration',
        Resource: bucket,
        Condition: ownBucket,
      },
    );
  }
  return { Version: '2012-10-17', Statement: statements };
}

/**
 * The session logging grants of one lab's Dev host roles (shared/dev-host-roles.ts), put when the
 * roles are created or converged (never by configure-session-logging, nor removed by
 * release-shared-resources: those handle the shared roles only). Like `sessionLoggingPolicy`, for
 * the lab's group and bucket, but the streams written are the lab's own sessions' only:
 * `MyWorkshopUser-<labId>-<suffix>`, Session Manager's name for a session of the lab's user. The
 * suffix has no hyphen, so one more hyphen is a lab whose id extends this one's (`sec` ->
 * `sec-01`): denied outright, in every group. DescribeLogStreams is authorized on the group (it
 * lists streams, it reads no events), so it cannot be narrowed to the lab's streams. With a
 * bucket, uploads go only to the lab's sessions' objects (`<session id>.log`: the preferences'
 * key prefix is empty).
 */
export function labSessionLoggingPolicy(
  lab: Pick<LabConfig, 'labId' | 'logGroupName' | 's3BucketName'>,
  { partition, region, accountId }: PolicyScope,
): PolicyDocument {
  const names = labNames(lab.labId);
  const logs = `arn:${partition}:logs:${region}:${accountId}`;
  const group = `${logs}:log-group:${lab.logGroupName}`;
  const statements: PolicyDocument['Statement'] = [
    findSessionLogGroupStatement(logs),
    {
      Sid: 'FindSessionLogStream',
      Effect: 'Allow',
      Action: 'logs:DescribeLogStreams',
      Resource: [group, `${group}:log-stream:`],
    },
    {
      Sid: 'WriteOwnSessionLogs',
      Effect: 'Allow',
      Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      Resource: `${group}:log-stream:${names.sessionLogStreams}`,
    },
    {
      Sid: 'DenyLongerLabIdsSessionLogs',
      Effect: 'Deny',
      Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      Resource: `arn:${partition}:logs:*:*:log-group:*:log-stream:${names.longerLabSessionLogStreams}`,
    },
  ];
  if (lab.s3BucketName) {
    const bucket = `arn:${partition}:s3:::${lab.s3BucketName}`;
    const ownBucket = { StringEquals: { 's3:ResourceAccount': accountId } };
    statements.push(
      {
        Sid: 'UploadOwnSessionLogs',
        Effect: 'Allow',
        Action: 's3:PutObject',
        Resource: `${bucket}/${names.sessionLogStreams}`,
        Condition: ownBucket,
      },
      {
        Sid: 'DenyLongerLabIdsSessionUploads',
        Effect: 'Deny',
        Action: 's3:PutObject',
        Resource: `${bucket}/${names.longerLabSessionLogStreams}`,
      },
      {
        Sid: 'CheckSessionLogBucketEncryption',
        Effect: 'Allow',
        Action: 's3:GetEncryptionConfiguration',
        Resource: bucket,
        Condition: ownBucket,
      },
    );
  }
  return { Version: '2012-10-17', Statement: statements };
}

/**
 * How long one invocation waits for a shared role that does not exist yet: the workflow creates
 * the roles beside this task. Then NotReadyYet, retried.
 */
const ROLE_WAIT_SECONDS = 30;
const ROLE_WAIT = { minDelaySeconds: 2, maxDelaySeconds: 5 };

/**
 * Puts `document` as the inline policy `policyName` on both shared roles, reading first: a role
 * that already holds it gets no write (IAM writes are the scarce rate). PutRolePolicy replaces a
 * policy of that name, so a lab with other settings converges the roles to its own.
 */
export async function ensureSessionLoggingPolicy(
  iam: IAMClient,
  policyName: string,
  document: PolicyDocument,
): Promise<void> {
  await Promise.all(
    SESSION_LOGGING_ROLES.map(async (roleName) => {
      const done = await pollUntil(
        async () => {
          if (samePolicy(await readInlinePolicy(iam, roleName, policyName), document)) return true;
          try {
            await iam.send(
              new PutRolePolicyCommand({
                RoleName: roleName,
                PolicyName: policyName,
                PolicyDocument: JSON.stringify(document),
              }),
            );
            return true;
          } catch (err) {
            // The role is being created beside this task, or changed by another execution.
            if (isErrorNamed(err, 'NoSuchEntityException', 'ConcurrentModificationException'))
              return undefined;
            throw err;
          }
        },
        { maxWaitSeconds: ROLE_WAIT_SECONDS, ...ROLE_WAIT },
      );
      if (!done) {
        throw new NotReadyYet(`${roleName} cannot take its session logging policy yet (not created yet?)`);
      }
    }),
  );
}

/**
 * Puts the lab's own session logging policy (`labSessionLoggingPolicy`) on the lab's Dev host
 * roles that exist (under their boundary), reading first: the lab's logging settings may differ from the ones the roles
 * were created with (a lab provisioned again with another group or bucket keeps its hosts and
 * their roles). A role not created yet is left to its creator, which puts the same policy
 * (shared/dev-host-roles.ts). Only this lab's roles; the shared roles are `ensureSessionLoggingPolicy`'s.
 */
export async function ensureLabSessionLoggingPolicy(
  iam: IAMClient,
  lab: Pick<LabConfig, 'labId' | 'logGroupName' | 's3BucketName'>,
  scope: PolicyScope,
): Promise<void> {
  const names = labNames(lab.labId);
  const policyName = sessionLoggingPolicyName(scope.region);
  const document = labSessionLoggingPolicy(lab, scope);
  await Promise.all(
    [names.devHostRole, names.devNodeRole].map(async (roleName) => {
      // Only a role that exists under its boundary may take a policy (the grant's condition); a
      // missing one is its creator's, who puts the boundary first (shared/lab-roles.ts).
      const role = await ignoreErrors(
        () => iam.send(new GetRoleCommand({ RoleName: roleName })),
        'NoSuchEntityException',
      );
      if (!role?.Role?.PermissionsBoundary) return;
      const current = await readInlinePolicy(iam, roleName, policyName);
      if (samePolicy(current, document)) return;
      try {
        await iam.send(
          new PutRolePolicyCommand({
            RoleName: roleName,
            PolicyName: policyName,
            PolicyDocument: JSON.stringify(document),
          }),
        );
      } catch (err) {
        if (isErrorNamed(err, 'NoSuchEntityException')) return;
        if (isErrorNamed(err, 'ConcurrentModificationException')) {
          throw new NotReadyYet(`${roleName} is being changed by another execution`, { cause: err });
        }
        throw err;
      }
    }),
  );
}

/** Removes the inline policy from both shared roles; one already gone (or its role) is fine. */
export async function removeSessionLoggingPolicy(iam: IAMClient, policyName: string): Promise<void> {
  await Promise.all(
    SESSION_LOGGING_ROLES.map((roleName) =>
      ignoreErrors(
        () => iam.send(new DeleteRolePolicyCommand({ RoleName: roleName, PolicyName: policyName })),
        'NoSuchEntityException',
      ),
    ),
  );
}
