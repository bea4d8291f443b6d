import { DescribeLogGroupsCommand, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { GetLoginProfileCommand, GetPolicyCommand, GetRolePolicyCommand } from '@aws-sdk/client-iam';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import {
  GetDocumentCommand,
  GetServiceSettingCommand,
  StartSessionCommand,
  TerminateSessionCommand,
} from '@aws-sdk/client-ssm';
import { configureSessionLogging } from '../../../functions/configure-session-logging/task.js';
import { createInstanceRole } from '../../../functions/create-instance-role/task.js';
import { createServiceRole } from '../../../functions/create-service-role/task.js';
import { createWorkshopUser } from '../../../functions/create-workshop-user/task.js';
import { enableAdvancedTier } from '../../../functions/enable-advanced-tier/task.js';
import { labClients } from '../../../functions/shared/clients.js';
import { labConfigSchema } from '../../../functions/shared/lab-config.js';
import { managedPolicies } from '../../../functions/shared/names.js';
import { inputSchema as verifyInputSchema, verifyLab } from '../../../functions/verify-lab/task.js';
import { waitForAdvancedTier } from '../../../functions/wait-for-advanced-tier/task.js';
import { IAM_REUSE_MS } from '../../../local/emulator/services/node-credentials.js';
import { useEmulator } from '../../helpers/emulator.js';
import { buildLab, polling, retrying } from '../../helpers/lab-builder.js';

/** The managed policies in the tests' Region's partition (us-east-1: aws). */
const MANAGED_POLICIES = managedPolicies('aws');

type Built = Awaited<ReturnType<typeof buildLab>>;

/** verify-lab's input as the state machine passes it, parsed as its handler does. */
const verifyInput = ({ lab, instances, nodes, user, logging }: Built, extra: object = {}) =>
  verifyInputSchema.parse({ lab, instances, nodes, user, logging, ...extra });

/**
 * The provisioning tasks of seed steps 3b, 4, 5 and 6 against the local emulator (moto plus the
 * session-lab layer), through the product's own clients and AWS_ENDPOINT_URL.
 */
describe('provisioning tasks against the emulator', () => {
  // 0.01: a 40 s boot is 0.4 s, the 120 s tier change 1.2 s.
  // The stack first: the bootstrap and Dev host roles the tasks create are bounded by its policies.
  const emulator = useEmulator({ time: { scale: 0.01 }, deployStack: true });

  /** Types a command into a session, as the session's user would. */
  const sessionInput = (sessionId: string, command: string) =>
    fetch(`${emulator().url}/__emulator/session-input`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sessionId, command }),
    });

  it('enable-advanced-tier switches the tier once; wait-for-advanced-tier polls until it is in effect', async () => {
    const clients = labClients();
    const first = await enableAdvancedTier({}, clients);
    expect(first).toMatchObject({ value: 'advanced', status: 'PendingUpdate' });
    expect(first.settingId).toMatch(
      /^arn:aws:ssm:us-east-1:\d{12}:servicesetting\/ssm\/managed-instance\/activation-tier$/,
    );
    await expect(waitForAdvancedTier({}, clients)).resolves.toMatchObject({
      ready: false,
      status: 'PendingUpdate',
    });
    // Running it again while pending does not restart the change.
    await expect(enableAdvancedTier({}, clients)).resolves.toMatchObject({ status: 'PendingUpdate' });
    const done = await polling(() => waitForAdvancedTier({}, clients), 'the advanced tier');
    expect(done).toMatchObject({ ready: true, value: 'advanced' });
    const { ServiceSetting } = await clients.ssm.send(
      new GetServiceSettingCommand({ SettingId: first.settingId }),
    );
    expect(ServiceSetting?.Status).not.toBe('PendingUpdate');
  });

  it('configure-session-logging creates the group and the preferences, and a re-run adds no version', async () => {
    const clients = labClients();
    const lab = labConfigSchema.parse({
      labId: 'logs',
      runId: 'r1',
      logGroupName: '/session-lab/it',
      logRetentionDays: 14,
    });
    // The shared roles, which the workflow creates beside this task.
    await retrying(() => createInstanceRole({}, clients));
    await retrying(() => createServiceRole({}, clients));
    const first = await configureSessionLogging({ lab }, clients);
    // Both roles got the grants their nodes' agents need to log to the group.
    for (const RoleName of ['SSMLabRole', 'SSMServiceRole']) {
      const { PolicyDocument } = await clients.iam.send(
        new GetRolePolicyCommand({ RoleName, PolicyName: 'SessionLabSessionLogging-us-east-1' }),
      );
      expect(decodeURIComponent(PolicyDocument!)).toContain(':log-group:/session-lab/it:*');
    }
    const second = await configureSessionLogging({ lab }, clients);
    expect(second).toEqual(first);
    // A lab that is not the first holder of either takes them as they are.
    const holder = { converge: false, heldSince: new Date().toISOString() };
    await expect(
      configureSessionLogging({ lab, logGroup: holder, preferences: holder }, clients),
    ).resolves.toEqual(first);
    const { logGroups } = await clients.logs.send(
      new DescribeLogGroupsCommand({ logGroupNamePrefix: '/session-lab/it' }),
    );
    expect(logGroups?.[0]).toMatchObject({ logGroupName: '/session-lab/it', retentionInDays: 14 });

    const changed = await configureSessionLogging(
      { lab: { ...lab, idleSessionTimeoutMinutes: 45, logRetentionDays: 30 } },
      clients,
    );
    expect(Number(changed.documentVersion)).toBe(Number(first.documentVersion) + 1);
    const doc = await clients.ssm.send(new GetDocumentCommand({ Name: 'SSM-SessionManagerRunShell' }));
    expect(doc.DocumentVersion).toBe(changed.documentVersion);
    expect(JSON.parse(doc.Content!).inputs).toMatchObject({
      idleSessionTimeout: '45',
      cloudWatchLogGroupName: '/session-lab/it',
    });
  });

  it('create-workshop-user: user, password in Secrets Manager only, its policy and IAMUserChangePassword; converges and follows the mode', async () => {
    const clients = labClients();
    const lab = labConfigSchema.parse({ labId: 'users', runId: 'r1' });
    const out = await retrying(() => createWorkshopUser({ lab }, clients));
    expect(out.attachedPolicies).toEqual([out.policyArn, MANAGED_POLICIES.userChangePassword].sort());
    const { SecretString } = await clients.secrets.send(
      new GetSecretValueCommand({ SecretId: out.passwordSecretArn }),
    );
    expect(SecretString!.length).toBeGreaterThanOrEqual(24);
    expect(JSON.stringify(out)).not.toContain(SecretString!);
    // A retry of the same run keeps the password it set (the secret's run tag says so).
    await expect(retrying(() => createWorkshopUser({ lab }, clients))).resolves.toEqual(out);
    const { SecretString: kept } = await clients.secrets.send(
      new GetSecretValueCommand({ SecretId: out.passwordSecretArn }),
    );
    expect(kept).toBe(SecretString);
    // A new run rotates it.
    const next = { ...lab, runId: 'r2' };
    await expect(retrying(() => createWorkshopUser({ lab: next }, clients))).resolves.toEqual(out);
    // Checked after the new run (UpdateLoginProfile): moto 5.2 ignores PasswordResetRequired on
    // CreateLoginProfile, which AWS honours.
    const profile = await clients.iam.send(new GetLoginProfileCommand({ UserName: out.userName }));
    expect(profile.LoginProfile?.PasswordResetRequired).toBe(true);
    const { SecretString: rotated } = await clients.secrets.send(
      new GetSecretValueCommand({ SecretId: out.passwordSecretArn }),
    );
    expect(rotated).not.toBe(SecretString);
    await retrying(() => createWorkshopUser({ lab: { ...next, policyMode: 'seed' } }, clients));
    const { Policy } = await clients.iam.send(new GetPolicyCommand({ PolicyArn: out.policyArn }));
    expect(Policy?.DefaultVersionId).toBe('v2');
  });

  it('verify-lab on a strict lab: Dev allowed, Prod EC2 and Prod hybrid denied, ok', async () => {
    const built = await buildLab({ labId: 'strict-lab' });
    const report = await retrying(() => verifyLab(verifyInput(built), built.clients));
    const cells = Object.fromEntries(report.accessMatrix.map((c) => [c.role, [c.expected, c.actual]]));
    expect(cells).toEqual({
      ProdEC2Instance: ['denied', 'denied'],
      DevEC2Instance: ['allowed', 'allowed'],
      Bootstrap: ['denied', 'denied'],
      ProdOnPrem: ['denied', 'denied'],
      DevOnPrem: ['allowed', 'allowed'],
    });
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.nodes.every((n) => n.pingStatus === 'Online')).toBe(true);
    expect(report.signInUrl).toMatch(/^https:\/\/\d{12}\.signin\.aws\.amazon\.com\/console$/);

    // An operator's session on the Prod EC2 host is logged with only what the product gave
    // SSMLabRole, once the role's new policy has reached the node (the emulator reuses IAM reads
    // that long). (The Dev hosts' own roles log only the lab user's sessions.)
    await new Promise((resolve) => setTimeout(resolve, IAM_REUSE_MS));
    const prod = built.instances.find((i) => i.role === 'ProdEC2Instance')!.instanceId;
    const { SessionId } = await built.clients.ssm.send(new StartSessionCommand({ Target: prod }));
    await sessionInput(SessionId!, 'whoami');
    const { events } = await built.clients.logs.send(
      new GetLogEventsCommand({
        logGroupName: built.lab.logGroupName,
        logStreamName: SessionId,
        startFromHead: true,
      }),
    );
    expect(JSON.parse(events![0]!.message!)).toMatchObject({ sessionData: ['sh-5.2$ whoami', 'ssm-user'] });
    await built.clients.ssm.send(new TerminateSessionCommand({ SessionId }));

    // The other lab below is denied to this lab's user in strict mode.
    const other = await buildLab({ labId: 'seed-lab', policyMode: 'seed' });
    const crossCheck = await verifyLab(
      verifyInput(built, { otherLabNodes: other.nodes.map((n) => ({ nodeId: n.managedInstanceId })) }),
      built.clients,
    );
    expect(crossCheck.accessMatrix.filter((c) => c.role === 'other-lab').map((c) => c.actual)).toEqual([
      'denied',
      'denied',
    ]);

    // The seed policy, evaluated by the emulator's simulator: ProdOnPrem reachable, reported as the gap.
    const seedReport = await verifyLab(verifyInput(other), other.clients);
    expect(seedReport.accessMatrix.find((c) => c.role === 'ProdOnPrem')).toMatchObject({
      expected: 'allowed',
      actual: 'allowed',
    });
    expect(seedReport.gaps.some((g) => g.includes('ProdOnPrem'))).toBe(true);
    expect(seedReport.ok).toBe(true);
  });
});
