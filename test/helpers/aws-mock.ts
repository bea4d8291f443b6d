import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { IAMClient } from '@aws-sdk/client-iam';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { TEST_ACCOUNT, TEST_REGION } from './aws.js';

/** The account and Region every unit test pretends to run in (test/helpers/aws.ts). */
export { TEST_ACCOUNT as ACCOUNT, TEST_REGION as REGION, awsError, testLab } from './aws.js';

const clientConfig = {
  region: TEST_REGION,
  credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  // The mocks answer at once; no retry should hide a path under test.
  maxAttempts: 1,
};

/**
 * Fresh clients for one test (fresh, so the per-client account cache starts empty). The mocks
 * from `mockClient(Class)` intercept every instance of the class.
 */
export function testClients() {
  return {
    ec2: new EC2Client(clientConfig),
    iam: new IAMClient(clientConfig),
    logs: new CloudWatchLogsClient(clientConfig),
    s3: new S3Client(clientConfig),
    secrets: new SecretsManagerClient(clientConfig),
    ssm: new SSMClient(clientConfig),
    sts: new STSClient(clientConfig),
  };
}

/** The caller identity STS reports for the test account. */
export function mockCallerIdentity(sts: AwsClientStub<STSClient>): void {
  sts
    .on(GetCallerIdentityCommand)
    .resolves({ Account: TEST_ACCOUNT, Arn: `arn:aws:iam::${TEST_ACCOUNT}:user/tester`, UserId: 'AIDATEST' });
}

/** An STS client of its own whose GetCallerIdentity answers the test account (mockCallerIdentity). */
export function callerSts(): STSClient {
  const sts = new STSClient(clientConfig);
  mockCallerIdentity(mockClient(sts));
  return sts;
}

/** The input of every call to `command` a mock received, in order. */
export function inputsOf<I extends object>(
  stub: { commandCalls: (command: never) => { args: unknown[] }[] },
  command: new (input: I) => { input: I },
): I[] {
  return stub.commandCalls(command as never).map((call) => (call.args[0] as { input: I }).input);
}
