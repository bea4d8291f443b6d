import type { LabConfig } from '../shared/lab-config.js';

/** The `inputs` of the Session Manager preferences document. */
export interface SessionPreferences {
  s3BucketName: string;
  s3KeyPrefix: string;
  s3EncryptionEnabled: boolean;
  cloudWatchLogGroupName: string;
  cloudWatchEncryptionEnabled: boolean;
  cloudWatchStreamingEnabled: boolean;
  kmsKeyId: string;
  runAsEnabled: boolean;
  runAsDefaultUser: string;
  idleSessionTimeout: string;
  shellProfile: { windows: string; linux: string };
}

export interface PreferencesDocument {
  schemaVersion: '1.0';
  description: string;
  sessionType: 'Standard_Stream';
  inputs: SessionPreferences;
}

/**
 * The preferences a lab asks for, as the document `SSM-SessionManagerRunShell` holds them.
 * - `cloudWatchEncryptionEnabled` follows the log group: the agent refuses to start a session when
 *   it is true and the group has no KMS key.
 * - `s3EncryptionEnabled` only with a bucket: S3 encrypts new objects by default, and with no
 *   bucket there is nothing to encrypt.
 * - `kmsKeyId` (encryption of session data in transit) stays empty: it would need a key policy
 *   for every lab user.
 * - `idleSessionTimeout` is a string of minutes, as the schema requires.
 */
export function sessionPreferences(lab: LabConfig): PreferencesDocument {
  return {
    schemaVersion: '1.0',
    description: 'Session Manager preferences managed by session-lab',
    sessionType: 'Standard_Stream',
    inputs: {
      s3BucketName: lab.s3BucketName ?? '',
      s3KeyPrefix: '',
      s3EncryptionEnabled: lab.s3BucketName !== undefined,
      cloudWatchLogGroupName: lab.logGroupName,
      cloudWatchEncryptionEnabled: lab.logKmsKeyArn !== undefined,
      cloudWatchStreamingEnabled: lab.cloudWatchStreaming,
      kmsKeyId: '',
      runAsEnabled: lab.runAsUser !== undefined,
      runAsDefaultUser: lab.runAsUser ?? '',
      idleSessionTimeout: String(lab.idleSessionTimeoutMinutes),
      shellProfile: { windows: '', linux: '' },
    },
  };
}
