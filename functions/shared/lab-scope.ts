import { GetBucketEncryptionCommand, type S3Client } from '@aws-sdk/client-s3';
import type { STSClient } from '@aws-sdk/client-sts';
import { callerAccount, clientRegion } from './account.js';
import { InvalidLabInput, isErrorNamed } from './errors.js';
import type { LabConfig } from './lab-config.js';
import { partitionOf } from './names.js';

/**
 * The checks of lab input that need the account: what the schema (lab-config.ts) cannot know.
 * The session logging settings are shared by every lab of the Region, and the nodes' roles get
 * grants on what they name (shared/session-logging.ts), so a key or bucket of another account
 * would send every lab's transcripts out of the account. Run by validate-lab-input, the
 * workflow's first state, so a refusal names the field before anything is created.
 */

/** `arn:<partition>:kms:<region>:<account>:key/<id>` split into its fields, or undefined. */
export function kmsKeyArnParts(
  keyArn: string,
): { partition: string; region: string; accountId: string } | undefined {
  const match = /^arn:([a-z-]+):kms:([a-z0-9-]+):(\d{12}):key\/[0-9a-f-]+$/.exec(keyArn);
  return match ? { partition: match[1]!, region: match[2]!, accountId: match[3]! } : undefined;
}

/** S3's answers for a bucket that is not the expected owner's, or that the caller may not read. */
const NOT_THE_ACCOUNTS = ['AccessDenied', 'Forbidden', '403'];
const NO_SUCH_BUCKET = ['NoSuchBucket', 'NotFound', '404'];

/**
 * Refuses (`InvalidLabInput` naming the field) a `logKmsKeyArn` of another account, Region or
 * partition, and an `s3BucketName` that is not a bucket of the account: S3 answers a request with
 * `ExpectedBucketOwner` other than the bucket's owner with 403, as it does a bucket the task may not
 * read, so a bucket that cannot be verified is refused too. Asks nothing when neither is set.
 */
export async function checkLabScope(
  lab: Pick<LabConfig, 'logKmsKeyArn' | 's3BucketName'>,
  clients: { s3: Pick<S3Client, 'send' | 'config'>; sts: Pick<STSClient, 'send'> },
): Promise<void> {
  if (!lab.logKmsKeyArn && !lab.s3BucketName) return;
  // Only now: the handler's clients are built on first use, and most labs name neither.
  const { s3, sts } = clients;
  const [region, { accountId }] = await Promise.all([clientRegion(s3), callerAccount(sts)]);
  if (lab.logKmsKeyArn) {
    const key = kmsKeyArnParts(lab.logKmsKeyArn);
    if (
      !key ||
      key.accountId !== accountId ||
      key.region !== region ||
      key.partition !== partitionOf(region)
    ) {
      throw new InvalidLabInput(
        'logKmsKeyArn',
        `must be a KMS key of the lab's account ${accountId} in ${region}`,
      );
    }
  }
  if (lab.s3BucketName) {
    try {
      await s3.send(
        new GetBucketEncryptionCommand({ Bucket: lab.s3BucketName, ExpectedBucketOwner: accountId }),
      );
    } catch (err) {
      // An older bucket without default encryption: the owner check passed before this answer.
      if (isErrorNamed(err, 'ServerSideEncryptionConfigurationNotFoundError')) return;
      if (isErrorNamed(err, ...NO_SUCH_BUCKET)) {
        throw new InvalidLabInput('s3BucketName', `bucket ${lab.s3BucketName} does not exist`);
      }
      if (isErrorNamed(err, ...NOT_THE_ACCOUNTS)) {
        throw new InvalidLabInput(
          's3BucketName',
          `bucket ${lab.s3BucketName} is not a bucket of the lab's account ${accountId} (or cannot be checked)`,
        );
      }
      throw err;
    }
  }
}
