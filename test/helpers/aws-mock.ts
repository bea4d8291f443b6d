import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { IAMClient } from '@aws-sdk/client-iam';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { AwsClientStub } from 'aws-sdk-client-mock';
import type { LabConfig } from '../../functions/shared/lab-config.js';
import { labConfigSchema } from '../../functions/shared/lab-config.js';

/** The account and Region every unit test pretends to run in. */
export const REGION = 'us-east-1';
export const ACCOUNT = '123456789012';

/**
 * An error shaped as the SDK raises it: `name` is the modelled shape (IAM, SSM, Logs) or the raw
 * code string (EC2), which is all the tasks look at (`isErrorNamed`).
 */
export function awsError(name: string, message = name): Error {
  return Object.assign(new Error(message), { name, $fault: 'client', $metadata: { httpStatusCode: 400 } });
}

/** Throttling as the SDK reports it once its own retries are spent. */
export const throttled = (name = 'ThrottlingException') => awsError(name, 'Rate exceeded');

const clientConfig = {
  region: REGION,
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
    secrets: new SecretsManagerClient(clientConfig),
    ssm: new SSMClient(clientConfig),
    sts: new STSClient(clientConfig),
  };
}

/** The caller identity STS reports for the test account. */
export function mockCallerIdentity(sts: AwsClientStub<STSClient>): void {
  sts
    .on(GetCallerIdentityCommand)
    .resolves({ Account: ACCOUNT, Arn: `arn:aws:iam::${ACCOUNT}:user/tester`, UserId: 'AIDATEST' });
}

/** A validated lab config as the provision workflow passes it, with `overrides` applied. */
export function testLab(overrides: Partial<LabConfig> = {}): LabConfig {
  return labConfigSchema.parse({ labId: 'demo', runId: 'run-1', ...overrides });
}

/** The input of every call to `command` a mock received, in order. */
export function inputsOf<I extends object>(
  stub: { commandCalls: (command: never) => { args: unknown[] }[] },
  command: new (input: I) => { input: I },
): I[] {
  return stub.commandCalls(command as never).map((call) => (call.args[0] as { input: I }).input);
}
