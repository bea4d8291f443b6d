import { CreateRoleCommand } from '@aws-sdk/client-iam';
import {
  CreateActivationCommand,
  DeleteActivationCommand,
  DescribeActivationsCommand,
  type DescribeActivationsFilterKeys,
} from '@aws-sdk/client-ssm';
import { deleteActivations } from '../../../functions/delete-activations/task.js';
import { findLabActivations } from '../../../functions/shared/discovery.js';
import { waitFor } from '../../../local/emulator/net.js';
import { useEmulator } from '../../helpers/emulator.js';
import { fleetClients, serviceRole, trustPolicy } from '../../helpers/fleet.js';

describe('emulator: hybrid activations', () => {
  const emulator = useEmulator({ time: { scale: 0.01 } });
  const clients = () => fleetClients(emulator());

  beforeAll(async () => {
    const { iam } = clients();
    await serviceRole(iam, 'SSMServiceRole');
    await iam.send(
      new CreateRoleCommand({
        RoleName: 'Ec2Only',
        AssumeRolePolicyDocument: trustPolicy('ec2.amazonaws.com'),
      }),
    );
  });

  it('creates an activation with the documented defaults and never shows its code again', async () => {
    const { ssm } = clients();
    const before = Date.now();
    const created = await ssm.send(new CreateActivationCommand({ IamRole: 'SSMServiceRole' }));
    expect(created.ActivationId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(created.ActivationCode).toHaveLength(20);
    const { ActivationList } = await ssm.send(
      new DescribeActivationsCommand({
        Filters: [{ FilterKey: 'ActivationIds', FilterValues: [created.ActivationId!] }],
      }),
    );
    expect(ActivationList).toHaveLength(1);
    const activation = ActivationList![0]!;
    expect(activation).toMatchObject({
      ActivationId: created.ActivationId,
      IamRole: 'SSMServiceRole',
      RegistrationLimit: 1,
      RegistrationsCount: 0,
      Expired: false,
    });
    const day = 24 * 3600 * 1000;
    expect(activation.ExpirationDate!.getTime()).toBeGreaterThanOrEqual(before + day - 2000);
    expect(activation.ExpirationDate!.getTime()).toBeLessThanOrEqual(Date.now() + day + 2000);
    expect(JSON.stringify(activation)).not.toContain(created.ActivationCode);
  });

  it('keeps the default name, limit and tags the seed passes', async () => {
    const { ssm } = clients();
    const { ActivationId } = await ssm.send(
      new CreateActivationCommand({
        IamRole: 'SSMServiceRole',
        DefaultInstanceName: 'DevOnPrem',
        RegistrationLimit: 10,
        Description: 'dev hosts',
        Tags: [{ Key: 'Environment', Value: 'Dev' }],
      }),
    );
    const { ActivationList } = await ssm.send(
      new DescribeActivationsCommand({
        Filters: [{ FilterKey: 'DefaultInstanceName', FilterValues: ['DevOnPrem'] }],
      }),
    );
    expect(ActivationList).toEqual([
      expect.objectContaining({
        ActivationId,
        DefaultInstanceName: 'DevOnPrem',
        Description: 'dev hosts',
        RegistrationLimit: 10,
        Tags: [{ Key: 'Environment', Value: 'Dev' }],
      }),
    ]);
  });

  it('refuses a role that does not exist or does not trust ssm.amazonaws.com', async () => {
    const { ssm } = clients();
    for (const IamRole of ['NoSuchRole', 'Ec2Only']) {
      await expect(ssm.send(new CreateActivationCommand({ IamRole }))).rejects.toMatchObject({
        name: 'ValidationException',
        message: `Not existing role: arn:aws:iam::123456789012:role/${IamRole}`,
      });
    }
  });

  it('validates the registration limit, expiry and default name', async () => {
    const { ssm } = clients();
    const invalid = [
      { RegistrationLimit: 0 },
      { RegistrationLimit: 1001 },
      { ExpirationDate: new Date(Date.now() + 31 * 24 * 3600 * 1000) },
      { ExpirationDate: new Date(Date.now() - 1000) },
      { DefaultInstanceName: 'bad#name' },
    ];
    for (const input of invalid) {
      await expect(
        ssm.send(new CreateActivationCommand({ IamRole: 'SSMServiceRole', ...input })),
      ).rejects.toMatchObject({
        name: 'ValidationException',
      });
    }
    const ok = await ssm.send(
      new CreateActivationCommand({
        IamRole: 'SSMServiceRole',
        RegistrationLimit: 1000,
        ExpirationDate: new Date(Date.now() + 29 * 24 * 3600 * 1000),
      }),
    );
    expect(ok.ActivationId).toBeDefined();
  });

  it('filters by IAM role, pages with NextToken and refuses bad filters and tokens', async () => {
    const { ssm } = clients();
    const all = await ssm.send(
      new DescribeActivationsCommand({
        Filters: [{ FilterKey: 'IamRole', FilterValues: ['SSMServiceRole'] }],
      }),
    );
    expect(all.ActivationList!.length).toBeGreaterThanOrEqual(3);
    const seen: string[] = [];
    let NextToken: string | undefined;
    do {
      const page = await ssm.send(new DescribeActivationsCommand({ MaxResults: 1, NextToken }));
      expect(page.ActivationList!.length).toBeLessThanOrEqual(1);
      seen.push(...page.ActivationList!.map((a) => a.ActivationId!));
      NextToken = page.NextToken;
    } while (NextToken);
    expect(seen).toEqual(all.ActivationList!.map((a) => a.ActivationId));
    await expect(
      ssm.send(
        new DescribeActivationsCommand({
          Filters: [{ FilterKey: 'Tags' as DescribeActivationsFilterKeys, FilterValues: ['x'] }],
        }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidFilter' });
    await expect(
      ssm.send(new DescribeActivationsCommand({ NextToken: 'not-a-token' })),
    ).rejects.toMatchObject({
      name: 'InvalidNextToken',
    });
    await expect(ssm.send(new DescribeActivationsCommand({ MaxResults: 51 }))).rejects.toMatchObject({
      name: 'ValidationException',
    });
  });

  it('reports an activation as Expired once its expiration date has passed', async () => {
    const { ssm } = clients();
    const { ActivationId } = await ssm.send(
      new CreateActivationCommand({ IamRole: 'SSMServiceRole', ExpirationDate: new Date(Date.now() + 1000) }),
    );
    const expired = async () =>
      (
        await ssm.send(
          new DescribeActivationsCommand({
            Filters: [{ FilterKey: 'ActivationIds', FilterValues: [ActivationId!] }],
          }),
        )
      ).ActivationList?.[0]?.Expired === true;
    expect(await expired()).toBe(false);
    await waitFor(expired, { timeoutMs: 5000, intervalMs: 50, what: 'the activation to expire' });
  });

  it('deletes an activation, then answers InvalidActivation', async () => {
    const { ssm } = clients();
    const { ActivationId } = await ssm.send(new CreateActivationCommand({ IamRole: 'SSMServiceRole' }));
    await ssm.send(new DeleteActivationCommand({ ActivationId }));
    const { ActivationList } = await ssm.send(
      new DescribeActivationsCommand({
        Filters: [{ FilterKey: 'ActivationIds', FilterValues: [ActivationId!] }],
      }),
    );
    expect(ActivationList).toEqual([]);
    await expect(ssm.send(new DeleteActivationCommand({ ActivationId }))).rejects.toMatchObject({
      name: 'InvalidActivation',
    });
  });

  it("lets a class's teardowns delete their activations side by side and leaves none", async () => {
    // Thirty labs' two activations each (more than a page of DescribeActivations): every lab
    // deletes its own at once, as a class's teardowns do, and each lists only its own. (A listing of
    // every activation paged while others delete theirs can skip some; this interleaving is too
    // quick to show it, so the test guards the outcome, not that cause.)
    const { ssm } = clients();
    const labs = Array.from({ length: 30 }, (_, i) => `class-${i}`);
    for (const labId of labs) {
      for (const host of ['ProdOnPrem', 'DevOnPrem']) {
        await ssm.send(
          new CreateActivationCommand({
            IamRole: 'SSMServiceRole',
            DefaultInstanceName: `${host}-${labId}`,
            Tags: [{ Key: 'session-lab:lab-id', Value: labId }],
          }),
        );
      }
    }
    const deleted = await Promise.all(labs.map((labId) => deleteActivations({ labId }, { ssm })));
    expect(deleted.map((d) => d.deletedActivations.length)).toEqual(labs.map(() => 2));
    const left = await Promise.all(labs.map((labId) => findLabActivations(ssm, labId)));
    expect(left.flat()).toEqual([]);
  });
});
