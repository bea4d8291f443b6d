import {
  DeleteDocumentCommand,
  ResetServiceSettingCommand,
  SSMClient,
  UpdateDocumentCommand,
  UpdateDocumentDefaultVersionCommand,
} from '@aws-sdk/client-ssm';
import { DeleteRolePolicyCommand, IAMClient } from '@aws-sdk/client-iam';
import { STSClient } from '@aws-sdk/client-sts';
import {
  DynamoDBDocumentClient,
  GetCommand,
  ScanCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { releaseSharedResources } from '../../../functions/release-shared-resources/task.js';
import {
  ACCOUNT,
  REGION,
  awsError,
  inputsOf,
  mockCallerIdentity,
  testClients,
} from '../../helpers/aws-mock.js';
import { conditionFailed, labItem, labRecord, testRegistry } from '../../helpers/registry.js';

const doc = mockClient(DynamoDBDocumentClient);
const ssm = mockClient(SSMClient);
const sts = mockClient(STSClient);
const iam = mockClient(IAMClient);
/** configure-session-logging's inline policy on the shared roles, per Region. */
const LOGGING_POLICY = `SessionLabSessionLogging-${REGION}`;

const TIER_ARN = `arn:aws:ssm:${REGION}:${ACCOUNT}:servicesetting/ssm/managed-instance/activation-tier`;
const keyOf = (input: UpdateCommandInput) => String(input.Key!.pk).replace(/^shared#/, '');
const shared = (key: string, previous?: Record<string, unknown>) => ({
  pk: `shared#${key}`,
  kind: 'shared',
  key,
  holders: new Set(['demo']),
  holderCount: 1,
  phase: 'held',
  ...(previous ? { previous } : {}),
});

/** The singleton updates answered as DynamoDB would for a lab that is the last holder (or not). */
function singletons(options: {
  last: boolean;
  claim?: boolean;
  previous?: Record<string, Record<string, unknown>>;
}) {
  doc.on(GetCommand).resolves({ Item: labItem(labRecord()) });
  doc.on(ScanCommand).resolves({
    Items: [
      shared('advanced-tier', options.previous?.['advanced-tier']),
      shared('session-preferences', options.previous?.['session-preferences']),
      shared('shared-roles'),
    ],
  });
  doc.on(UpdateCommand).callsFake(async (input: UpdateCommandInput) => {
    const expression = input.UpdateExpression!;
    if (expression.includes('REMOVE #holders')) {
      if (!options.last) throw conditionFailed();
      return { Attributes: {} };
    }
    if (expression.startsWith('DELETE')) return { Attributes: {} };
    if (expression.includes('REMOVE #previous')) return { Attributes: {} };
    // the claim of the revert
    if (options.claim === false) throw conditionFailed();
    return { Attributes: { ...shared(keyOf(input), options.previous?.[keyOf(input)]), holderCount: 0 } };
  });
}

beforeEach(() => {
  doc.reset();
  ssm.reset();
  sts.reset();
  iam.reset();
  mockCallerIdentity(sts);
  iam.on(DeleteRolePolicyCommand).resolves({});
  ssm.on(ResetServiceSettingCommand).resolves({});
  ssm.on(DeleteDocumentCommand).resolves({});
});

const deps = (revertOnLastRelease: boolean) => ({
  registry: testRegistry(),
  clients: testClients(),
  revertOnLastRelease,
});

describe('releaseSharedResources', () => {
  it('without a registry releases nothing and never reverts', async () => {
    await expect(
      releaseSharedResources({ labId: 'demo' }, { clients: testClients(), revertOnLastRelease: true }),
    ).resolves.toMatchObject({ registry: 'disabled', released: [], lastHolder: false, reverted: [] });
    expect(ssm.calls()).toHaveLength(0);
  });

  it('leaves the singletons to the other labs when it is not the last holder', async () => {
    singletons({ last: false });
    const result = await releaseSharedResources({ labId: 'demo' }, deps(true));
    expect(result).toMatchObject({
      released: ['advanced-tier', 'session-preferences', 'shared-roles'],
      lastHolder: false,
      revert: true,
      reverted: [],
    });
    expect(ssm.calls()).toHaveLength(0);
  });

  it('as the last holder, without revert configured, reports it and changes nothing in the account', async () => {
    singletons({ last: true });
    const result = await releaseSharedResources({ labId: 'demo' }, deps(false));
    expect(result).toMatchObject({ lastHolder: true, revert: false, reverted: [] });
    const lastWrites = inputsOf(doc, UpdateCommand).filter((w) =>
      w.UpdateExpression!.includes('REMOVE #holders'),
    );
    for (const write of lastWrites) expect(Object.values(write.ExpressionAttributeValues!)).toContain('idle');
    expect(ssm.calls()).toHaveLength(0);
  });

  it('as the last holder with revert configured, resets the tier and deletes the preferences it created', async () => {
    singletons({
      last: true,
      previous: { 'advanced-tier': { value: 'standard' }, 'session-preferences': { exists: false } },
    });
    const result = await releaseSharedResources({ labId: 'demo' }, deps(true));
    expect(result).toMatchObject({
      lastHolder: true,
      revert: true,
      reverted: [
        { key: 'advanced-tier', action: 'reset' },
        { key: 'session-preferences', action: 'deleted' },
      ],
    });
    expect(inputsOf(ssm, ResetServiceSettingCommand)).toEqual([{ SettingId: TIER_ARN }]);
    expect(inputsOf(ssm, DeleteDocumentCommand)).toEqual([{ Name: 'SSM-SessionManagerRunShell' }]);
    // With the preferences go the session logging grants configure-session-logging gave the roles.
    expect(inputsOf(iam, DeleteRolePolicyCommand)).toEqual([
      { RoleName: 'SSMLabRole', PolicyName: LOGGING_POLICY },
      { RoleName: 'SSMServiceRole', PolicyName: LOGGING_POLICY },
    ]);
    // the shared roles are released, never reverted
    const revertible = inputsOf(doc, UpdateCommand).filter((w) =>
      w.UpdateExpression!.includes('REMOVE #holders'),
    );
    expect(
      revertible
        .filter((w) => Object.values(w.ExpressionAttributeValues!).includes('revert-pending'))
        .map(keyOf),
    ).toEqual(['advanced-tier', 'session-preferences']);
    expect(
      inputsOf(doc, UpdateCommand).filter((w) => w.UpdateExpression!.includes('REMOVE #previous')),
    ).toHaveLength(2);
  });

  it('restores the preferences the account had, and keeps a tier that was advanced before session-lab', async () => {
    singletons({
      last: true,
      previous: {
        'advanced-tier': { value: 'advanced' },
        'session-preferences': { exists: true, content: '{"old":true}', format: 'JSON' },
      },
    });
    ssm.on(UpdateDocumentCommand).resolves({ DocumentDescription: { LatestVersion: '7' } });
    ssm.on(UpdateDocumentDefaultVersionCommand).resolves({});
    const result = await releaseSharedResources({ labId: 'demo' }, deps(true));
    expect(result.reverted).toEqual([
      { key: 'advanced-tier', action: 'kept' },
      { key: 'session-preferences', action: 'restored' },
    ]);
    expect(ssm.commandCalls(ResetServiceSettingCommand)).toHaveLength(0);
    expect(inputsOf(ssm, UpdateDocumentCommand)).toEqual([
      {
        Name: 'SSM-SessionManagerRunShell',
        Content: '{"old":true}',
        DocumentVersion: '$LATEST',
        DocumentFormat: 'JSON',
      },
    ]);
    expect(inputsOf(ssm, UpdateDocumentDefaultVersionCommand)).toEqual([
      { Name: 'SSM-SessionManagerRunShell', DocumentVersion: '7' },
    ]);
    expect(iam.commandCalls(DeleteRolePolicyCommand)).toHaveLength(2);
  });

  it('takes the logging grants back even when a role or its policy is already gone', async () => {
    singletons({ last: true, previous: { 'session-preferences': { exists: false } } });
    iam.on(DeleteRolePolicyCommand).rejects(awsError('NoSuchEntityException'));
    const result = await releaseSharedResources({ labId: 'demo' }, deps(true));
    expect(result.reverted).toContainEqual({ key: 'session-preferences', action: 'deleted' });
    expect(iam.commandCalls(DeleteRolePolicyCommand)).toHaveLength(2);
  });

  it('keeps the logging grants while the preferences stay (no revert, not the last holder, nothing recorded)', async () => {
    singletons({ last: true });
    await releaseSharedResources({ labId: 'demo' }, deps(false));
    singletons({ last: false });
    await releaseSharedResources({ labId: 'demo' }, deps(true));
    singletons({ last: true });
    const kept = await releaseSharedResources({ labId: 'demo' }, deps(true));
    expect(kept.reverted).toContainEqual({ key: 'session-preferences', action: 'kept' });
    expect(iam.calls()).toHaveLength(0);
  });

  it('treats identical restored content as restored (no new default version)', async () => {
    singletons({
      last: true,
      previous: { 'session-preferences': { exists: true, content: '{"old":true}', format: 'JSON' } },
    });
    ssm.on(UpdateDocumentCommand).rejects(awsError('DuplicateDocumentContent'));
    const result = await releaseSharedResources({ labId: 'demo' }, deps(true));
    expect(result.reverted).toContainEqual({ key: 'session-preferences', action: 'restored' });
    expect(ssm.commandCalls(UpdateDocumentDefaultVersionCommand)).toHaveLength(0);
  });

  it('does not revert when another lab acquired the singleton between the release and the revert', async () => {
    singletons({ last: true, claim: false, previous: { 'advanced-tier': { value: 'standard' } } });
    const result = await releaseSharedResources({ labId: 'demo' }, deps(true));
    expect(result).toMatchObject({ lastHolder: true, reverted: [] });
    expect(ssm.calls()).toHaveLength(0);
  });

  it("keeps the references during a reset's own teardown", async () => {
    doc
      .on(GetCommand)
      .resolves({ Item: labItem(labRecord({ workflow: 'reset-lab', executionName: 'demo-g2-reset-x' })) });
    const result = await releaseSharedResources(
      { labId: 'demo', executionName: 'demo-g2-reset-x-teardown' },
      deps(true),
    );
    expect(result).toMatchObject({ released: [], lastHolder: false, reason: expect.stringMatching(/reset/) });
    expect(doc.commandCalls(ScanCommand)).toHaveLength(0);
  });

  it('propagates a failed revert so the retry finishes it', async () => {
    singletons({ last: true, previous: { 'advanced-tier': { value: 'standard' } } });
    ssm.on(ResetServiceSettingCommand).rejects(awsError('TooManyUpdates'));
    await expect(releaseSharedResources({ labId: 'demo' }, deps(true))).rejects.toMatchObject({
      name: 'TooManyUpdates',
    });
    expect(
      inputsOf(doc, UpdateCommand).filter((w) => w.UpdateExpression!.includes('REMOVE #previous')),
    ).toHaveLength(0);
  });
});
