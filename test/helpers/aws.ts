import { labConfigSchema, type LabConfig, type LabInput } from '../../functions/shared/lab-config.js';

/**
 * An AWS SDK error as the SDK raises it: `name` is the shape name (IAM, SSM) or the raw EC2 code
 * (`InvalidKeyPair.Duplicate`), which is what the tasks match with isErrorNamed.
 */
export function awsError(name: string, message = name): Error {
  return Object.assign(new Error(message), {
    name,
    $fault: 'client' as const,
    $metadata: { httpStatusCode: 400 },
  });
}

/** What throttling looks like once the SDK's own retries are exhausted (IAM / SSM / EC2 spellings). */
export const throttled = {
  iam: () => awsError('Throttling', 'Rate exceeded'),
  ssm: () => awsError('ThrottlingException', 'Rate exceeded'),
  ec2: () => awsError('RequestLimitExceeded', 'Request limit exceeded.'),
};

/** A validated lab config, as validate-lab-input returns it. */
export function testLab(overrides: Partial<LabInput> & { runId?: string } = {}): LabConfig {
  return labConfigSchema.parse({ labId: 'demo', runId: 'provision-demo-1', ...overrides });
}

export const TEST_ACCOUNT = '123456789012';
export const TEST_REGION = 'us-east-1';
