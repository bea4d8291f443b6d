import { beforeAll, describe, expect, it } from '@jest/globals';
import {
  CreateRoleCommand,
  DeleteRolePermissionsBoundaryCommand,
  DeleteRolePolicyCommand,
  GetRoleCommand,
  IAMClient,
  ListRolesCommand,
  PutRolePermissionsBoundaryCommand,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import { ensureBootstrapProfile } from '../../../functions/shared/bootstrap-role.js';
import { HOST_GUARD_POLICY_NAME } from '../../../functions/shared/host-guard.js';
import { EC2_TRUST_POLICY } from '../../../functions/shared/iam-roles.js';
import { bootstrapBoundaryArn, labNames } from '../../../functions/shared/names.js';
import { ensureTemplate } from '../../../local/deployment/artifacts.js';
import { deployLocalStack } from '../../../local/deployment/deploy.js';
import { localStack } from '../../../local/deployment/local-stack.js';
import { emulatorClientConfig, TEST_REGION, useEmulator } from '../../helpers/emulator.js';

/**
 * The permissions boundary of the lab bootstrap roles (functions/shared/bootstrap-boundary.ts),
 * as the stack deploys it, under enforced IAM: launch-instances' own credentials (the deployed
 * function role) create and converge a bootstrap role only with the boundary, and a bootstrap role
 * given more than its guard allows still reaches nothing beyond the boundary.
 */

const ACCOUNT = '123456789012';
const BOUNDARY = bootstrapBoundaryArn('aws', ACCOUNT);
const LAB = 'bound';

interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
}

const denial = (action: string) =>
  expect.objectContaining({ message: expect.stringContaining(`not authorized to perform: ${action}`) });

describe('the bootstrap roles’ permissions boundary', () => {
  const emulator = useEmulator();
  const config = () => emulatorClientConfig(emulator());
  const as = ({ accessKeyId, secretAccessKey, sessionToken }: Credentials) => ({
    ...config(),
    credentials: { accessKeyId, secretAccessKey, sessionToken },
  });
  const admin = { iam: () => new IAMClient(config()), ssm: () => new SSMClient(config()) };

  /** Credentials of `roleArn` as the service its trust policy names (the emulator's control endpoint). */
  const credentialsOf = async (roleArn: string, service: string, sessionName: string) => {
    const res = await fetch(`${emulator().url}/__emulator/assume-role-for-service`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ roleArn, service, sessionName }),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as Credentials;
  };

  let launch: { iam: IAMClient; sts: STSClient };

  beforeAll(async () => {
    const stack = localStack(await ensureTemplate(), TEST_REGION);
    expect(stack.managedPolicies.map((p) => p.arn)).toContain(BOUNDARY);
    await deployLocalStack(stack, emulator().url);
    const role = stack.functions.get('launch-instances')!.role;
    const credentials = await credentialsOf(role.arn, 'lambda.amazonaws.com', 'launch-instances');
    launch = { iam: new IAMClient(as(credentials)), sts: new STSClient(as(credentials)) };
    const ssm = admin.ssm();
    for (const Name of [labNames(LAB).activationCodeParameter('Dev'), '/elsewhere/secret'])
      await ssm.send(new PutParameterCommand({ Name, Value: 'code-value', Type: 'SecureString' }));
  }, 120_000);

  it('launch-instances creates the bootstrap role with the boundary', async () => {
    await ensureBootstrapProfile(launch, LAB);
    const { Role } = await admin.iam().send(new GetRoleCommand({ RoleName: labNames(LAB).bootstrapRole }));
    expect(Role?.PermissionsBoundary?.PermissionsBoundaryArn).toBe(BOUNDARY);
  });

  it('a bootstrap role given ssm:GetParameter and iam:* on everything, without its guard, still reaches only lab parameters', async () => {
    const name = labNames(LAB).bootstrapRole;
    const iam = admin.iam();
    await iam.send(new DeleteRolePolicyCommand({ RoleName: name, PolicyName: HOST_GUARD_POLICY_NAME }));
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: name,
        PolicyName: 'TooBroad',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Action: ['ssm:GetParameter', 'iam:*', 'kms:Decrypt'], Resource: '*' },
          ],
        }),
      }),
    );
    const host = await credentialsOf(`arn:aws:iam::${ACCOUNT}:role/${name}`, 'ec2.amazonaws.com', 'i-bound');
    const ssm = new SSMClient(as(host));
    // Its lab's code: the boundary allows the read and the decryption through Systems Manager.
    const own = await ssm.send(
      new GetParameterCommand({ Name: labNames(LAB).activationCodeParameter('Dev'), WithDecryption: true }),
    );
    expect(own.Parameter?.Value).toBe('code-value');
    // Outside /session-lab: refused by the boundary, whatever the role's policies allow.
    const outside = await ssm
      .send(new GetParameterCommand({ Name: '/elsewhere/secret', WithDecryption: true }))
      .catch((err: Error) => err);
    expect(outside).toMatchObject({ name: 'AccessDeniedException' });
    expect(outside).toEqual(denial('ssm:GetParameter'));
    expect((outside as Error).message).toContain('because no permissions boundary allows');
    const iamCall = await new IAMClient(as(host)).send(new ListRolesCommand({})).catch((err: Error) => err);
    expect(iamCall).toMatchObject({ name: 'AccessDenied' });
    expect((iamCall as Error).message).toContain(
      'because no permissions boundary allows the iam:ListRoles action',
    );
  });

  it('launch-instances cannot create a bootstrap role without the boundary or with another', async () => {
    const create = (PermissionsBoundary?: string) =>
      launch.iam
        .send(
          new CreateRoleCommand({
            RoleName: labNames('unbound').bootstrapRole,
            AssumeRolePolicyDocument: JSON.stringify(EC2_TRUST_POLICY),
            PermissionsBoundary,
          }),
        )
        .catch((err: Error) => err);
    for (const boundary of [undefined, 'arn:aws:iam::aws:policy/AdministratorAccess']) {
      const refused = await create(boundary);
      expect(refused).toMatchObject({ name: 'AccessDenied' });
      expect(refused).toEqual(denial('iam:CreateRole'));
    }
  });

  it('launch-instances cannot remove or replace the boundary of a bootstrap role', async () => {
    const RoleName = labNames(LAB).bootstrapRole;
    const removed = await launch.iam
      .send(new DeleteRolePermissionsBoundaryCommand({ RoleName }))
      .catch((err: Error) => err);
    expect(removed).toEqual(denial('iam:DeleteRolePermissionsBoundary'));
    const replaced = await launch.iam
      .send(
        new PutRolePermissionsBoundaryCommand({
          RoleName,
          PermissionsBoundary: 'arn:aws:iam::aws:policy/AdministratorAccess',
        }),
      )
      .catch((err: Error) => err);
    expect(replaced).toEqual(denial('iam:PutRolePermissionsBoundary'));
    const { Role } = await admin.iam().send(new GetRoleCommand({ RoleName }));
    expect(Role?.PermissionsBoundary?.PermissionsBoundaryArn).toBe(BOUNDARY);
  });

  it('a bootstrap role of an earlier release (no boundary) takes no policy from launch-instances until it holds the boundary, which converging puts first', async () => {
    const RoleName = labNames('earlier').bootstrapRole;
    await admin
      .iam()
      .send(new CreateRoleCommand({ RoleName, AssumeRolePolicyDocument: JSON.stringify(EC2_TRUST_POLICY) }));
    const put = await launch.iam
      .send(
        new PutRolePolicyCommand({
          RoleName,
          PolicyName: HOST_GUARD_POLICY_NAME,
          PolicyDocument: JSON.stringify({
            Version: '2012-10-17',
            Statement: [{ Effect: 'Allow', Action: 'ssm:GetParameter', Resource: '*' }],
          }),
        }),
      )
      .catch((err: Error) => err);
    expect(put).toEqual(denial('iam:PutRolePolicy'));
    await ensureBootstrapProfile(launch, 'earlier');
    const { Role } = await admin.iam().send(new GetRoleCommand({ RoleName }));
    expect(Role?.PermissionsBoundary?.PermissionsBoundaryArn).toBe(BOUNDARY);
  });
});
