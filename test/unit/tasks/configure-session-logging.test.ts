import { jest } from '@jest/globals';
import {
  AssociateKmsKeyCommand,
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  DescribeLogGroupsCommand,
  PutRetentionPolicyCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import {
  CreateDocumentCommand,
  DescribeDocumentCommand,
  GetDocumentCommand,
  ListDocumentVersionsCommand,
  SSMClient,
  UpdateDocumentCommand,
  UpdateDocumentDefaultVersionCommand,
} from '@aws-sdk/client-ssm';
import {
  GetRolePolicyCommand,
  IAMClient,
  GetRoleCommand,
  PutRolePolicyCommand,
  type PutRolePolicyCommandInput,
} from '@aws-sdk/client-iam';
import { STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { sessionPreferences } from '../../../functions/configure-session-logging/preferences.js';
import { configureSessionLogging } from '../../../functions/configure-session-logging/task.js';
import { labSessionLoggingPolicy } from '../../../functions/shared/session-logging.js';
import {
  ACCOUNT,
  awsError,
  inputsOf,
  mockCallerIdentity,
  testClients,
  testLab,
} from '../../helpers/aws-mock.js';

const logs = mockClient(CloudWatchLogsClient);
const ssm = mockClient(SSMClient);
const iam = mockClient(IAMClient);
const sts = mockClient(STSClient);
/** The calls of a command on the shared roles (the lab's own Dev host roles are checked apart). */
const onSharedRoles = (command: typeof GetRolePolicyCommand | typeof PutRolePolicyCommand) =>
  iam
    .commandCalls(command as never)
    .filter((c) => (c.args[0].input as { RoleName: string }).RoleName.startsWith('SSM'));
const POLICY_NAME = 'SessionLabSessionLogging-us-east-1';
const KMS = 'arn:aws:kms:us-east-1:123456789012:key/0b8f3c1e-1111-4222-8333-944455556666';

/**
 * The preferences document as SSM keeps it: numbered versions, a default pointer, the errors of
 * docs/aws-behaviours.md#preferences-create-and-update. Stateful, so "run twice" and "crash in
 * the middle" are real sequences.
 */
function fakeDocumentStore(initial?: { versions: string[]; defaultVersion: number; type?: string }) {
  const state = {
    versions: initial ? [...initial.versions] : [],
    defaultVersion: initial?.defaultVersion ?? 0,
    type: initial?.type ?? 'Session',
  };
  ssm.on(GetDocumentCommand).callsFake((input: { DocumentVersion?: string }) => {
    if (state.versions.length === 0) throw awsError('InvalidDocument');
    const version = input.DocumentVersion ? Number(input.DocumentVersion) : state.defaultVersion;
    return {
      Name: 'SSM-SessionManagerRunShell',
      DocumentVersion: String(version),
      DocumentType: state.type,
      Content: state.versions[version - 1],
    };
  });
  ssm.on(ListDocumentVersionsCommand).callsFake(() => ({
    DocumentVersions: state.versions.map((_, i) => ({ DocumentVersion: String(i + 1) })),
  }));
  ssm.on(CreateDocumentCommand).callsFake((input: { Content: string }) => {
    if (state.versions.length > 0) throw awsError('DocumentAlreadyExists');
    state.versions.push(input.Content);
    state.defaultVersion = 1;
    return { DocumentDescription: { DocumentVersion: '1', LatestVersion: '1', DefaultVersion: '1' } };
  });
  ssm.on(UpdateDocumentCommand).callsFake((input: { Content: string }) => {
    if (state.versions.length === 0) throw awsError('InvalidDocument');
    // Refused when any version already holds the content (moto does so; AWS says "matches another").
    if (state.versions.includes(input.Content)) throw awsError('DuplicateDocumentContent');
    state.versions.push(input.Content);
    const latest = String(state.versions.length);
    return { DocumentDescription: { DocumentVersion: latest, LatestVersion: latest } };
  });
  ssm.on(DescribeDocumentCommand).callsFake(() => ({
    Document: { LatestVersion: String(state.versions.length), DefaultVersion: String(state.defaultVersion) },
  }));
  ssm.on(UpdateDocumentDefaultVersionCommand).callsFake((input: { DocumentVersion: string }) => {
    state.defaultVersion = Number(input.DocumentVersion);
    return {};
  });
  return state;
}

/** A log group store answering CreateLogGroup / DescribeLogGroups like CloudWatch Logs. */
function fakeLogGroups(
  existing: { logGroupName: string; retentionInDays?: number; kmsKeyId?: string }[] = [],
) {
  const groups = [...existing];
  logs.on(CreateLogGroupCommand).callsFake((input: { logGroupName: string; kmsKeyId?: string }) => {
    if (groups.some((g) => g.logGroupName === input.logGroupName))
      throw awsError('ResourceAlreadyExistsException');
    groups.push({ logGroupName: input.logGroupName, kmsKeyId: input.kmsKeyId });
    return {};
  });
  logs.on(DescribeLogGroupsCommand).callsFake((input: { logGroupNamePrefix: string }) => ({
    logGroups: groups.filter((g) => g.logGroupName.startsWith(input.logGroupNamePrefix)),
  }));
  logs.on(PutRetentionPolicyCommand).callsFake((input: { logGroupName: string; retentionInDays: number }) => {
    groups.find((g) => g.logGroupName === input.logGroupName)!.retentionInDays = input.retentionInDays;
    return {};
  });
  logs.on(AssociateKmsKeyCommand).callsFake((input: { logGroupName: string; kmsKeyId: string }) => {
    groups.find((g) => g.logGroupName === input.logGroupName)!.kmsKeyId = input.kmsKeyId;
    return {};
  });
  return groups;
}

/**
 * The shared roles' inline policies as IAM keeps them (GetRolePolicy answers URL-encoded JSON);
 * `roles` lists the roles that exist, so one created late can be modelled.
 */
function fakeRolePolicies(roles = ['SSMLabRole', 'SSMServiceRole']) {
  const state = { roles: new Set(roles), policies: new Map<string, string>(), order: [] as string[] };
  iam.on(GetRoleCommand).callsFake((input: { RoleName: string }) => {
    if (!state.roles.has(input.RoleName)) throw awsError('NoSuchEntityException');
    const boundary = `arn:aws:iam::${ACCOUNT}:policy/SessionLabDevHostBoundary`;
    return {
      Role: {
        RoleName: input.RoleName,
        ...(input.RoleName.startsWith('SessionLabDev')
          ? { PermissionsBoundary: { PermissionsBoundaryArn: boundary } }
          : {}),
      },
    };
  });
  iam.on(GetRolePolicyCommand).callsFake((input: { RoleName: string; PolicyName: string }) => {
    const document = state.policies.get(`${input.RoleName}/${input.PolicyName}`);
    if (!document) throw awsError('NoSuchEntityException');
    return {
      RoleName: input.RoleName,
      PolicyName: input.PolicyName,
      PolicyDocument: encodeURIComponent(document),
    };
  });
  iam.on(PutRolePolicyCommand).callsFake((input: PutRolePolicyCommandInput) => {
    if (!state.roles.has(input.RoleName!)) throw awsError('NoSuchEntityException');
    state.policies.set(`${input.RoleName}/${input.PolicyName}`, input.PolicyDocument!);
    state.order.push('PutRolePolicy');
    return {};
  });
  return state;
}

beforeEach(() => {
  logs.reset();
  ssm.reset();
  iam.reset();
  sts.reset();
  mockCallerIdentity(sts);
  fakeRolePolicies();
});

describe('sessionPreferences', () => {
  it('follows the preferences schema: strings for minutes, encryption only with a KMS key', () => {
    const doc = sessionPreferences(testLab({ idleSessionTimeoutMinutes: 15 }));
    expect(doc).toMatchObject({ schemaVersion: '1.0', sessionType: 'Standard_Stream' });
    expect(doc.inputs).toMatchObject({
      cloudWatchLogGroupName: 'SSM-Logs',
      cloudWatchEncryptionEnabled: false,
      cloudWatchStreamingEnabled: true,
      idleSessionTimeout: '15',
      runAsEnabled: false,
      runAsDefaultUser: '',
      s3BucketName: '',
      s3EncryptionEnabled: false,
    });
  });

  it('turns on what the lab sets: KMS-encrypted logs, S3, run-as user, upload at end', () => {
    const { inputs } = sessionPreferences(
      testLab({
        logKmsKeyArn: KMS,
        s3BucketName: 'lab-logs',
        runAsUser: 'labuser',
        cloudWatchStreaming: false,
      }),
    );
    expect(inputs).toMatchObject({
      cloudWatchEncryptionEnabled: true,
      cloudWatchStreamingEnabled: false,
      s3BucketName: 'lab-logs',
      s3EncryptionEnabled: true,
      runAsEnabled: true,
      runAsDefaultUser: 'labuser',
    });
  });
});

describe('configureSessionLogging', () => {
  it('creates the log group (tags, retention) and the Session document, and reads it back', async () => {
    fakeLogGroups();
    fakeDocumentStore();
    const lab = testLab({ logGroupName: 'SSM-Logs', logRetentionDays: 14 });

    const out = await configureSessionLogging({ lab }, testClients());

    expect(out).toEqual({
      logGroupName: 'SSM-Logs',
      documentName: 'SSM-SessionManagerRunShell',
      documentVersion: '1',
      preferences: sessionPreferences(lab).inputs,
    });
    const [group] = inputsOf(logs, CreateLogGroupCommand);
    expect(group).toEqual({
      logGroupName: 'SSM-Logs',
      kmsKeyId: undefined,
      tags: { 'session-lab:managed-by': 'session-lab' },
    });
    expect(inputsOf(logs, PutRetentionPolicyCommand)).toEqual([
      { logGroupName: 'SSM-Logs', retentionInDays: 14 },
    ]);
    const [created] = inputsOf(ssm, CreateDocumentCommand);
    expect(created).toMatchObject({
      Name: 'SSM-SessionManagerRunShell',
      DocumentType: 'Session',
      DocumentFormat: 'JSON',
    });
    expect(JSON.parse(created!.Content!)).toEqual(sessionPreferences(lab));
  });

  it('gives both shared roles exactly the grants their agents need to log to the lab\u2019s group, before the preferences name it', async () => {
    fakeLogGroups();
    fakeDocumentStore();
    const roles = fakeRolePolicies();
    ssm.on(CreateDocumentCommand).callsFake(() => {
      roles.order.push('CreateDocument');
      return { DocumentDescription: { DocumentVersion: '1' } };
    });
    ssm
      .on(GetDocumentCommand)
      .rejectsOnce(awsError('InvalidDocument'))
      .resolves({
        DocumentVersion: '1',
        DocumentType: 'Session',
        Content: JSON.stringify(sessionPreferences(testLab())),
      });
    await configureSessionLogging({ lab: testLab({ logGroupName: 'SSM-Logs' }) }, testClients());

    const group = `arn:aws:logs:us-east-1:${ACCOUNT}:log-group:SSM-Logs`;
    const expected = {
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'FindSessionLogGroup',
          Effect: 'Allow',
          Action: 'logs:DescribeLogGroups',
          Resource: `arn:aws:logs:us-east-1:${ACCOUNT}:log-group:*`,
        },
        {
          Sid: 'WriteSessionLogs',
          Effect: 'Allow',
          Action: ['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents'],
          Resource: [group, `${group}:*`],
        },
      ],
    };
    const puts = inputsOf(iam, PutRolePolicyCommand).filter((p) => p.RoleName!.startsWith('SSM'));
    expect(puts.map((p) => [p.RoleName, p.PolicyName]).sort()).toEqual([
      ['SSMLabRole', POLICY_NAME],
      ['SSMServiceRole', POLICY_NAME],
    ]);
    for (const put of puts) expect(JSON.parse(put.PolicyDocument!)).toEqual(expected);
    expect(roles.order).toEqual(['PutRolePolicy', 'PutRolePolicy', 'CreateDocument']);
  });

  it('adds the bucket grants only with s3BucketName; a re-run reads the policies and writes none', async () => {
    fakeLogGroups();
    fakeDocumentStore();
    const lab = testLab({ s3BucketName: 'lab-session-logs', logKmsKeyArn: KMS });
    await configureSessionLogging({ lab }, testClients());
    const [put] = inputsOf(iam, PutRolePolicyCommand);
    expect(JSON.parse(put!.PolicyDocument!).Statement.slice(2)).toEqual([
      {
        Sid: 'UploadSessionLogs',
        Effect: 'Allow',
        Action: 's3:PutObject',
        Resource: 'arn:aws:s3:::lab-session-logs/*',
        // Only while the bucket is the account's (a bucket name can change hands).
        Condition: { StringEquals: { 's3:ResourceAccount': ACCOUNT } },
      },
      {
        Sid: 'CheckSessionLogBucketEncryption',
        Effect: 'Allow',
        Action: 's3:GetEncryptionConfiguration',
        Resource: 'arn:aws:s3:::lab-session-logs',
        Condition: { StringEquals: { 's3:ResourceAccount': ACCOUNT } },
      },
    ]);
    // The log group's key is CloudWatch Logs' to use: no KMS grant for the nodes.
    expect(put!.PolicyDocument).not.toContain('kms:');

    iam.resetHistory();
    await configureSessionLogging({ lab }, testClients());
    expect(onSharedRoles(GetRolePolicyCommand)).toHaveLength(2);
    expect(onSharedRoles(PutRolePolicyCommand)).toHaveLength(0);
  });

  it("gives the lab's own Dev host roles, where they exist, the logging policy of its current settings, and nobody else's", async () => {
    const roles = fakeRolePolicies(['SSMLabRole', 'SSMServiceRole', 'SessionLabDevHost-demo']);
    fakeLogGroups();
    fakeDocumentStore();
    const lab = testLab({ logGroupName: '/session-lab/demo-logs', s3BucketName: 'lab-session-logs' });
    await configureSessionLogging({ lab }, testClients());
    const scope = { partition: 'aws', region: 'us-east-1', accountId: ACCOUNT };
    expect(JSON.parse(roles.policies.get(`SessionLabDevHost-demo/${POLICY_NAME}`)!)).toEqual(
      labSessionLoggingPolicy(lab, scope),
    );
    // The Dev node role does not exist yet: create-activations creates it with the same policy.
    expect(roles.policies.has(`SessionLabDevNode-demo/${POLICY_NAME}`)).toBe(false);
    // A re-run reads and writes nothing more.
    iam.resetHistory();
    await configureSessionLogging({ lab }, testClients());
    expect(iam.commandCalls(PutRolePolicyCommand)).toHaveLength(0);
    // Other settings (a lab provisioned again): the Dev role follows them.
    const moved = testLab({ logGroupName: '/session-lab/other-logs' });
    await configureSessionLogging({ lab: moved }, testClients());
    expect(JSON.parse(roles.policies.get(`SessionLabDevHost-demo/${POLICY_NAME}`)!)).toEqual(
      labSessionLoggingPolicy(moved, scope),
    );
  });

  it('waits for a shared role the workflow is still creating, then puts its policy', async () => {
    fakeLogGroups();
    fakeDocumentStore();
    const roles = fakeRolePolicies(['SSMLabRole']);
    jest.useFakeTimers({ now: Date.now() });
    try {
      const run = configureSessionLogging({ lab: testLab() }, testClients());
      await jest.advanceTimersByTimeAsync(5_000);
      expect(ssm.commandCalls(CreateDocumentCommand)).toHaveLength(0);
      roles.roles.add('SSMServiceRole');
      await jest.advanceTimersByTimeAsync(10_000);
      await run;
    } finally {
      jest.useRealTimers();
    }
    expect([...roles.policies.keys()].sort()).toEqual([
      `SSMLabRole/${POLICY_NAME}`,
      `SSMServiceRole/${POLICY_NAME}`,
    ]);
  });

  it('is NotReadyYet when a shared role does not exist within the wait', async () => {
    fakeLogGroups();
    fakeDocumentStore();
    fakeRolePolicies(['SSMLabRole']);
    jest.useFakeTimers({ now: Date.now() });
    try {
      const run = configureSessionLogging({ lab: testLab() }, testClients());
      const outcome = expect(run).rejects.toMatchObject({
        name: 'NotReadyYet',
        message: expect.stringContaining('SSMServiceRole'),
      });
      await jest.advanceTimersByTimeAsync(40_000);
      await outcome;
    } finally {
      jest.useRealTimers();
    }
    expect(ssm.commandCalls(CreateDocumentCommand)).toHaveLength(0);
  });

  it('creates the group with the KMS key when the lab encrypts its logs', async () => {
    fakeLogGroups();
    fakeDocumentStore();
    const out = await configureSessionLogging({ lab: testLab({ logKmsKeyArn: KMS }) }, testClients());
    expect(inputsOf(logs, CreateLogGroupCommand)[0]!.kmsKeyId).toBe(KMS);
    expect(out.preferences.cloudWatchEncryptionEnabled).toBe(true);
  });

  it('reconciles an existing group: retention and a missing KMS key, nothing else', async () => {
    const groups = fakeLogGroups([
      { logGroupName: 'SSM-Logs-archive', retentionInDays: 1 },
      { logGroupName: 'SSM-Logs', retentionInDays: 365 },
    ]);
    fakeDocumentStore();
    await configureSessionLogging(
      { lab: testLab({ logRetentionDays: 30, logKmsKeyArn: KMS }) },
      testClients(),
    );
    expect(groups.find((g) => g.logGroupName === 'SSM-Logs')).toEqual({
      logGroupName: 'SSM-Logs',
      retentionInDays: 30,
      kmsKeyId: KMS,
    });
    expect(groups.find((g) => g.logGroupName === 'SSM-Logs-archive')!.retentionInDays).toBe(1);
  });

  it('leaves a well-configured existing group alone', async () => {
    fakeLogGroups([{ logGroupName: 'SSM-Logs', retentionInDays: 30 }]);
    fakeDocumentStore();
    await configureSessionLogging({ lab: testLab() }, testClients());
    expect(logs.commandCalls(PutRetentionPolicyCommand)).toHaveLength(0);
    expect(logs.commandCalls(AssociateKmsKeyCommand)).toHaveLength(0);
  });

  it('throws NotReadyYet when the group exists but vanished before it could be described', async () => {
    logs.on(CreateLogGroupCommand).rejects(awsError('ResourceAlreadyExistsException'));
    logs.on(DescribeLogGroupsCommand).resolves({ logGroups: [] });
    fakeDocumentStore();
    await expect(configureSessionLogging({ lab: testLab() }, testClients())).rejects.toMatchObject({
      name: 'NotReadyYet',
    });
  });

  it('updates an existing document with $LATEST and makes the new version the default', async () => {
    fakeLogGroups();
    const store = fakeDocumentStore({ versions: ['{"console":"saved"}'], defaultVersion: 1 });
    const out = await configureSessionLogging({ lab: testLab() }, testClients());
    expect(inputsOf(ssm, UpdateDocumentCommand)[0]).toMatchObject({
      Name: 'SSM-SessionManagerRunShell',
      DocumentVersion: '$LATEST',
      DocumentFormat: 'JSON',
    });
    expect(inputsOf(ssm, UpdateDocumentDefaultVersionCommand)).toEqual([
      { Name: 'SSM-SessionManagerRunShell', DocumentVersion: '2' },
    ]);
    expect(store.defaultVersion).toBe(2);
    expect(out.documentVersion).toBe('2');
  });

  it('runs twice without adding a version (nightly resets do not build up versions)', async () => {
    fakeLogGroups();
    const store = fakeDocumentStore();
    const clients = testClients();
    const first = await configureSessionLogging({ lab: testLab() }, clients);
    const second = await configureSessionLogging({ lab: testLab() }, clients);
    expect(second).toEqual(first);
    expect(store.versions).toHaveLength(1);
    expect(ssm.commandCalls(CreateDocumentCommand)).toHaveLength(1);
    expect(ssm.commandCalls(UpdateDocumentCommand)).toHaveLength(0);
    expect(logs.commandCalls(PutRetentionPolicyCommand)).toHaveLength(1);
  });

  it('a changed lab setting adds exactly one version', async () => {
    fakeLogGroups();
    const store = fakeDocumentStore();
    await configureSessionLogging({ lab: testLab() }, testClients());
    const out = await configureSessionLogging(
      { lab: testLab({ idleSessionTimeoutMinutes: 45 }) },
      testClients(),
    );
    expect(store.versions).toHaveLength(2);
    expect(out).toMatchObject({ documentVersion: '2', preferences: { idleSessionTimeout: '45' } });
  });

  it('finishes a run that crashed between UpdateDocument and the default switch (DuplicateDocumentContent)', async () => {
    fakeLogGroups();
    const desired = JSON.stringify(sessionPreferences(testLab()), null, 2);
    const store = fakeDocumentStore({ versions: ['{"old":true}', desired], defaultVersion: 1 });
    const out = await configureSessionLogging({ lab: testLab() }, testClients());
    expect(store.versions).toHaveLength(2);
    expect(store.defaultVersion).toBe(2);
    expect(out.documentVersion).toBe('2');
  });

  it('goes back to preferences an earlier version holds by making that version the default', async () => {
    fakeLogGroups();
    const desired = JSON.stringify(sessionPreferences(testLab()), null, 2);
    const store = fakeDocumentStore({ versions: [desired, '{"other":"lab"}'], defaultVersion: 2 });
    const out = await configureSessionLogging({ lab: testLab() }, testClients());
    expect(store.versions).toHaveLength(2);
    expect([store.defaultVersion, out.documentVersion]).toEqual([1, '1']);
  });

  it('rewrites a YAML or unreadable default version as JSON', async () => {
    fakeLogGroups();
    const store = fakeDocumentStore({ versions: ['schemaVersion: "1.0"\n'], defaultVersion: 1 });
    await configureSessionLogging({ lab: testLab() }, testClients());
    expect(store.defaultVersion).toBe(2);
  });

  it('fails with LabStateMismatch naming the fields when the read-back differs', async () => {
    fakeLogGroups();
    fakeDocumentStore();
    // Someone else's write lands between ours and the read-back.
    ssm.on(UpdateDocumentDefaultVersionCommand).resolves({});
    const stale = sessionPreferences(testLab({ idleSessionTimeoutMinutes: 5 }));
    ssm
      .on(GetDocumentCommand)
      .rejectsOnce(awsError('InvalidDocument'))
      .resolves({ DocumentVersion: '1', DocumentType: 'Session', Content: JSON.stringify(stale) });
    await expect(configureSessionLogging({ lab: testLab() }, testClients())).rejects.toMatchObject({
      name: 'LabStateMismatch',
      message: expect.stringContaining('inputs.idleSessionTimeout'),
    });
  });

  it('refuses a same-named document that is not a Session document', async () => {
    fakeLogGroups();
    fakeDocumentStore({ versions: ['{"schemaVersion":"2.2"}'], defaultVersion: 1, type: 'Command' });
    await expect(configureSessionLogging({ lab: testLab() }, testClients())).rejects.toMatchObject({
      name: 'LabStateMismatch',
      message: expect.stringContaining('Command'),
    });
    expect(ssm.commandCalls(UpdateDocumentCommand)).toHaveLength(0);
  });

  it('propagates throttling and limit errors', async () => {
    fakeLogGroups();
    fakeDocumentStore({ versions: ['{}'], defaultVersion: 1 });
    ssm.on(UpdateDocumentCommand).rejects(awsError('DocumentVersionLimitExceeded'));
    await expect(configureSessionLogging({ lab: testLab() }, testClients())).rejects.toMatchObject({
      name: 'DocumentVersionLimitExceeded',
    });
    logs.on(CreateLogGroupCommand).rejects(awsError('ThrottlingException'));
    await expect(configureSessionLogging({ lab: testLab() }, testClients())).rejects.toMatchObject({
      name: 'ThrottlingException',
    });
  });

  describe('for a lab that is not the first holder of the log group and the preferences', () => {
    const justNow = () => new Date(Date.now() - 5_000).toISOString();
    const longAgo = () => new Date(Date.now() - 120_000).toISOString();
    const asHolder = (heldSince: string) =>
      configureSessionLogging(
        {
          lab: testLab(),
          logGroup: { converge: false, heldSince },
          preferences: { converge: false, heldSince },
        },
        testClients(),
      );

    it('uses what the first holder left with one read each and no write', async () => {
      fakeLogGroups();
      fakeDocumentStore();
      const first = await configureSessionLogging({ lab: testLab() }, testClients());
      logs.resetHistory();
      ssm.resetHistory();
      iam.resetHistory();
      await expect(asHolder(justNow())).resolves.toEqual(first);
      expect(logs.calls().map((c) => c.args[0].constructor.name)).toEqual(['DescribeLogGroupsCommand']);
      expect(ssm.calls().map((c) => c.args[0].constructor.name)).toEqual(['GetDocumentCommand']);
      // Only the lab's own Dev host roles (not created yet here), never the shared ones.
      expect(
        iam
          .calls()
          .filter(
            (c) =>
              !/^SessionLabDev(Host|Node)-demo$/.test(
                (c.args[0].input as { RoleName?: string }).RoleName ?? '',
              ),
          ),
      ).toHaveLength(0);
    });

    it('checks again while the first holder may still be creating them, writing nothing until the grace ends', async () => {
      const groups = fakeLogGroups();
      fakeDocumentStore();
      jest.useFakeTimers({ now: Date.now() });
      try {
        const used = asHolder(justNow());
        await jest.advanceTimersByTimeAsync(30_000);
        expect(logs.commandCalls(CreateLogGroupCommand)).toHaveLength(0);
        expect(ssm.commandCalls(CreateDocumentCommand)).toHaveLength(0);
        expect(logs.commandCalls(DescribeLogGroupsCommand).length).toBeGreaterThan(3);
        await jest.advanceTimersByTimeAsync(30_000);
        await used;
      } finally {
        jest.useRealTimers();
      }
      expect(groups.map((g) => g.logGroupName)).toEqual(['SSM-Logs']);
    });

    it('sets a group that exists with another retention at once, without waiting', async () => {
      const groups = fakeLogGroups([{ logGroupName: 'SSM-Logs', retentionInDays: 7 }]);
      fakeDocumentStore();
      await configureSessionLogging({ lab: testLab() }, testClients()); // the first holder's document
      groups[0]!.retentionInDays = 7; // then someone else's retention
      logs.resetHistory();
      await asHolder(justNow());
      expect(groups[0]!.retentionInDays).toBe(30);
      // One look, then the convergence's own: no checking again for the first holder.
      expect(logs.commandCalls(DescribeLogGroupsCommand)).toHaveLength(2);
    });

    it('converges them itself after the grace (the first holder may have failed)', async () => {
      const groups = fakeLogGroups();
      const store = fakeDocumentStore();
      await asHolder(longAgo());
      expect(groups).toEqual([expect.objectContaining({ logGroupName: 'SSM-Logs', retentionInDays: 30 })]);
      expect(store.versions).toHaveLength(1);
    });
  });
});
