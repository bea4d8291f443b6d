import {
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  DeletePolicyVersionCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  ListPolicyVersionsCommand,
  type IAMClient,
} from '@aws-sdk/client-iam';
import { isErrorNamed } from '../../functions/shared/errors.js';
import { parsePolicyDocument, samePolicy } from '../../functions/shared/iam-roles.js';
import type { LocalManagedPolicy } from './local-stack.js';

/**
 * Deploys a named customer managed policy of the stack (the bootstrap roles' permissions boundary)
 * as CloudFormation would: created when missing, and given a new default version when the
 * template's document differs from the one in effect (older versions removed first: IAM keeps at
 * most five), so a test that changes it redeploys it.
 */
export async function deployManagedPolicy(iam: IAMClient, policy: LocalManagedPolicy): Promise<void> {
  const document = JSON.stringify(policy.document);
  try {
    await iam.send(new CreatePolicyCommand({ PolicyName: policy.name, PolicyDocument: document }));
    return;
  } catch (err) {
    if (!isErrorNamed(err, 'EntityAlreadyExistsException', 'EntityAlreadyExists')) throw err;
  }
  const { Policy } = await iam.send(new GetPolicyCommand({ PolicyArn: policy.arn }));
  const current = await iam.send(
    new GetPolicyVersionCommand({ PolicyArn: policy.arn, VersionId: Policy!.DefaultVersionId! }),
  );
  const deployed = current.PolicyVersion?.Document;
  if (deployed && samePolicy(parsePolicyDocument(deployed), policy.document)) return;
  const { Versions } = await iam.send(new ListPolicyVersionsCommand({ PolicyArn: policy.arn }));
  for (const version of Versions ?? []) {
    if (!version.IsDefaultVersion)
      await iam.send(new DeletePolicyVersionCommand({ PolicyArn: policy.arn, VersionId: version.VersionId }));
  }
  await iam.send(
    new CreatePolicyVersionCommand({ PolicyArn: policy.arn, PolicyDocument: document, SetAsDefault: true }),
  );
}
