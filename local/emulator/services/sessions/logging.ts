import { CloudWatchLogsClient, DescribeLogGroupsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { authorizeRequests } from '../../authorization/evaluate.js';
import { bucketEncryptionCheck } from '../../authorization/operations/other.js';
import type { EmulatorContext } from '../../context.js';
import { AwsError } from '../../protocol.js';
import type { NodeInfo } from '../managed-nodes/fleet.js';
import { nodeSession } from '../managed-nodes/nodes.js';
import { nodeCaller } from '../node-credentials.js';
import type { RoleSession } from '../role-sessions.js';
import type { Preferences, SessionKind } from './preferences.js';

/**
 * Logging, as the agent does it: with the node's own credentials (its instance profile role, DHMC
 * role or activation role session, node-credentials.ts), through the emulator's endpoint like any
 * caller, so every call is authorized as the node with the full evaluator.
 */

/** A CloudWatch Logs client that signs as the node, against the emulator itself. */
function agentLogsClient(ctx: EmulatorContext, region: string, session: RoleSession): CloudWatchLogsClient {
  return new CloudWatchLogsClient({
    region,
    endpoint: ctx.url,
    credentials: {
      accessKeyId: session.accessKeyId,
      secretAccessKey: session.secretAccessKey,
      sessionToken: session.sessionToken,
      expiration: new Date(session.expiresAtMs),
    },
  });
}

/**
 * The agent's IsLogGroupPresent: DescribeLogGroups by prefix, page by page, for the exact name;
 * any error (AccessDeniedException when the node's role may not list groups) means not found.
 */
async function describeLogGroup(logs: CloudWatchLogsClient, name: string) {
  let nextToken: string | undefined;
  try {
    do {
      const page = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: name, nextToken }));
      const group = page.logGroups?.find((g) => g.logGroupName === name);
      if (group) return group;
      nextToken = page.nextToken;
    } while (nextToken);
  } catch (err) {
    if (err instanceof Error && (err as { $metadata?: unknown }).$metadata) return undefined;
    throw err;
  }
  return undefined;
}

const ENCRYPTION_NOT_SET_UP =
  "We couldn't start the session because encryption is not set up on the selected CloudWatch Logs log group. " +
  'Either encrypt the log group or choose an option to enable logging without encryption.';

const S3_ENCRYPTION_NOT_SET_UP =
  "We couldn't start the session because encryption is not set up on the selected Amazon S3 bucket. " +
  'Either encrypt the bucket or choose an option to enable logging without encryption.';

const GROUP_NOT_VALIDATED =
  'The CloudWatch log group specified in session preferences either does not exist or unable to validate its existence. ' +
  'This might result in no logging of session data to CloudWatch.';

/**
 * The agent's bucket encryption check (GetBucketEncryption with the node's credentials):
 * s3:GetEncryptionConfiguration authorized for the node like any request (with s3:ResourceAccount,
 * which the nodes' grant requires: operations/other.ts), then the bucket's
 * setting read from moto. Undefined when encrypted, else why not.
 */
async function bucketEncryptionProblem(
  ctx: EmulatorContext,
  region: string,
  session: RoleSession | undefined,
  bucket: string,
): Promise<string | undefined> {
  const unable = (why: string) =>
    `Couldn't start the session because we are unable to validate encryption on Amazon S3 bucket. Error: ${why}`;
  if (!session) return unable('NoCredentialProviders: no valid providers in chain');
  const caller = nodeCaller(ctx, session);
  try {
    await authorizeRequests(ctx, { protocol: 'query', service: 's3', region }, caller, [
      bucketEncryptionCheck(bucket, caller.accountId),
    ]);
  } catch (err) {
    if (err instanceof AwsError) return unable(`${err.code}: ${err.message}`);
    throw err;
  }
  const res = await fetch(`${ctx.motoUrl}/${encodeURIComponent(bucket)}?encryption`);
  const text = await res.text();
  if (res.ok) return undefined;
  const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? `HTTP ${res.status}`;
  if (code === 'ServerSideEncryptionConfigurationNotFoundError') return S3_ENCRYPTION_NOT_SET_UP;
  return unable(code);
}

/**
 * What the agent on the node decides about logging when the session starts (its validate step),
 * with the node's credentials: it looks the group up (DescribeLogGroups); a group it cannot find or
 * may not list means no logging, with a warning in its own log; with cloudWatchEncryptionEnabled,
 * a group it cannot see as KMS-encrypted (missing, not listable or unencrypted) fails the session;
 * with a bucket and s3EncryptionEnabled, a bucket it cannot see as encrypted fails it too.
 */
export async function loggingPlan(
  ctx: EmulatorContext,
  region: string,
  node: NodeInfo,
  prefs: Preferences,
  kind: SessionKind,
): Promise<{ logGroup?: string; logs?: CloudWatchLogsClient; failure?: string; warnings: string[] }> {
  const warnings: string[] = [];
  if (kind === 'port' || (!prefs.logGroup && !(prefs.s3Bucket && prefs.s3Encryption))) return { warnings };
  const session = await nodeSession(ctx, region, node.nodeId);
  let logGroup: string | undefined;
  let logs: CloudWatchLogsClient | undefined;
  if (prefs.logGroup) {
    logs = session && agentLogsClient(ctx, region, session);
    const group = logs && (await describeLogGroup(logs, prefs.logGroup));
    if (!group) warnings.push(GROUP_NOT_VALIDATED);
    if (prefs.encryption && !group?.kmsKeyId) {
      logs?.destroy();
      return { failure: ENCRYPTION_NOT_SET_UP, warnings };
    }
    if (group) logGroup = prefs.logGroup;
    else logs?.destroy();
  }
  if (prefs.s3Bucket && prefs.s3Encryption) {
    const problem = await bucketEncryptionProblem(ctx, region, session, prefs.s3Bucket);
    if (problem) {
      logs?.destroy();
      return { failure: problem, warnings };
    }
  }
  return { logGroup, logs: logGroup ? logs : undefined, warnings };
}
