import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { API_ROUTES } from '../../functions/api/routes.js';
import { API_FUNCTIONS, LAB_FUNCTIONS, NOT_DEPLOYED_YET } from '../../infra/functions.js';
import {
  API_PERMISSIONS,
  PERMISSIONS,
  PROGRESS_ACTIONS,
  WILDCARD_ONLY_ACTIONS,
  grantedActions,
} from '../../infra/permissions.js';
import { NO_PERMISSION_NEEDED, sdkActionsOfExport, sdkActionsOfTask } from '../helpers/sdk-usage.js';

const FUNCTIONS_DIR = fileURLToPath(new URL('../../functions/', import.meta.url));

/** The task folders of the contract: the first column of functions/README.md's tables. */
const contractFolders = () => {
  const readme = readFileSync(join(FUNCTIONS_DIR, 'README.md'), 'utf8');
  return [...readme.matchAll(/^\|\s*`([a-z0-9-]+)`\s*\|/gm)].map((match) => match[1]!);
};

/** Task folders that hold source already (others are still being written). */
const written = LAB_FUNCTIONS.map((fn) => fn.name).filter(
  (name) =>
    existsSync(join(FUNCTIONS_DIR, name)) &&
    readdirSync(join(FUNCTIONS_DIR, name)).some((f) => f.endsWith('.ts')),
);

describe('the function catalogue (infra/functions.ts)', () => {
  it('lists exactly the task folders of the contract, each with a permissions entry', () => {
    expect(LAB_FUNCTIONS.map((fn) => fn.name).sort()).toEqual(contractFolders().sort());
    expect(Object.keys(PERMISSIONS).sort()).toEqual(contractFolders().sort());
  });

  it('deploys every task folder that has a handler', () => {
    const withHandler = readdirSync(FUNCTIONS_DIR).filter(
      (name) => name !== 'shared' && name !== 'api' && existsSync(join(FUNCTIONS_DIR, name, 'handler.ts')),
    );
    const listed = new Set<string>([...LAB_FUNCTIONS.map((fn) => fn.name), ...NOT_DEPLOYED_YET]);
    expect(withHandler.filter((name) => !listed.has(name))).toEqual([]);
    expect(NOT_DEPLOYED_YET).toEqual([]);
  });

  it('deploys every route of the portal API, each with its permissions', () => {
    const routes = API_ROUTES.map((route) => route.folder).sort();
    expect(API_FUNCTIONS.map((fn) => fn.route).sort()).toEqual(routes);
    expect(Object.keys(API_PERMISSIONS).sort()).toEqual(routes);
    const withHandler = readdirSync(join(FUNCTIONS_DIR, 'api')).filter((name) =>
      existsSync(join(FUNCTIONS_DIR, 'api', name, 'handler.ts')),
    );
    expect(withHandler.sort()).toEqual(routes);
  });
});

describe('each task role grants every AWS call its source makes', () => {
  /** What the handler wrapper calls (step progress in the registry), granted with the registry. */
  const wrapper = sdkActionsOfExport(join(FUNCTIONS_DIR, 'shared', 'handler.ts'), 'labHandler');

  it('has task sources to check', () => {
    expect(written.length).toBeGreaterThan(0);
  });

  it('grants the handler wrapper’s registry calls with the registry: one update of the lab, one event', () => {
    expect([...wrapper].sort()).toEqual(['dynamodb:UpdateItem', 'events:PutEvents']);
    expect([...PROGRESS_ACTIONS.table, ...PROGRESS_ACTIONS.bus]).toEqual([
      'dynamodb:UpdateItem',
      'events:PutEvents',
    ]);
  });

  it.each(written)('%s', (name) => {
    const calls = [...sdkActionsOfTask(join(FUNCTIONS_DIR, name))].filter(
      (a) => !NO_PERMISSION_NEEDED.has(a) && !wrapper.has(a),
    );
    const granted = grantedActions(name);
    expect(calls.filter((action) => !granted.has(action)).sort()).toEqual([]);
  });

  it.each(API_FUNCTIONS.map((fn) => fn.route))('api/%s: exactly what the route calls, no more', (route) => {
    const calls = [...sdkActionsOfTask(join(FUNCTIONS_DIR, 'api', route))].filter(
      (a) => !NO_PERMISSION_NEEDED.has(a),
    );
    const granted = new Set(API_PERMISSIONS[route].flatMap((grant) => grant.actions));
    expect(calls.sort()).toEqual([...granted].sort());
  });
});

describe('the grants themselves', () => {
  const grants = Object.entries(PERMISSIONS).flatMap(([fn, list]) => list.map((grant) => ({ fn, ...grant })));

  it('name exact actions, never a wildcard', () => {
    expect(grants.flatMap((g) => g.actions).filter((action) => action.includes('*'))).toEqual([]);
  });

  it("use Resource '*' only for actions that support nothing narrower", () => {
    const onStar = grants.filter((g) => g.resources.includes('*'));
    for (const grant of onStar) {
      expect([grant.fn, grant.resources]).toEqual([grant.fn, ['*']]);
      expect([grant.fn, grant.actions.filter((action) => !WILDCARD_ONLY_ACTIONS[action])]).toEqual([
        grant.fn,
        [],
      ]);
    }
  });

  it('pass only the lab roles, each only to the service that uses it', () => {
    const passRole = grants.filter((g) => g.actions.includes('iam:PassRole'));
    expect(passRole.map((g) => g.fn).sort()).toEqual([
      'create-activations',
      'create-activations',
      'create-instance-role',
      'launch-instances',
      'launch-instances',
      'launch-instances',
    ]);
    for (const grant of passRole) {
      expect(grant.actions).toEqual(['iam:PassRole']);
      expect(grant.resources).toHaveLength(1);
      // The shared roles, each lab's bootstrap role and Dev EC2 host role (launch-instances, to
      // EC2) and each lab's Dev hybrid node role (create-activations, to Systems Manager).
      expect(grant.resources[0]).toMatch(
        /:role\/(SSMLabRole|SSMServiceRole|SessionLabBootstrap-\*|SessionLabDevHost-\*|SessionLabDevNode-\*)$/,
      );
      const service = /(SSMServiceRole|SessionLabDevNode-\*)$/.test(grant.resources[0]!)
        ? 'ssm.amazonaws.com'
        : 'ec2.amazonaws.com';
      expect(grant.conditions).toEqual({ StringEquals: { 'iam:PassedToService': service } });
    }
  });

  it('let the Dev host roles be created or given a policy only with the Dev host boundary on them', () => {
    const devRoleWrites = grants.filter(
      (g) =>
        g.resources.some((r) => /role\/SessionLabDev(Host|Node)-\*$/.test(r)) &&
        g.actions.some((a) =>
          /^iam:(CreateRole|PutRolePolicy|AttachRolePolicy|PutRolePermissionsBoundary)$/.test(a),
        ),
    );
    expect(devRoleWrites.map((g) => g.fn).sort()).toEqual([
      'configure-session-logging',
      'create-activations',
      'create-activations',
      'launch-instances',
      'launch-instances',
    ]);
    for (const grant of devRoleWrites)
      expect(grant.conditions?.StringEquals).toEqual({
        'iam:PermissionsBoundary':
          'arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/SessionLabDevHostBoundary',
      });
    expect(grants.some((g) => g.actions.includes('iam:DeleteRolePermissionsBoundary'))).toBe(false);
  });

  it('let create-activations tag the activations it creates (CreateActivation with Tags is also AddTagsToResource)', () => {
    const source = readFileSync(join(FUNCTIONS_DIR, 'create-activations', 'task.ts'), 'utf8');
    expect(source).toMatch(/new CreateActivationCommand\(\{(?:(?!\}\),)[\s\S])*\bTags:/);
    const tagging = PERMISSIONS['create-activations'].filter((g) =>
      g.actions.includes('ssm:AddTagsToResource'),
    );
    expect(tagging).toContainEqual(
      expect.objectContaining({
        actions: ['ssm:AddTagsToResource'],
        resources: ['arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:activation/*'],
        conditions: { StringEquals: { 'aws:RequestTag/session-lab:managed-by': 'session-lab' } },
      }),
    );
  });

  it('never let a task read a secret value', () => {
    const reads = ['secretsmanager:GetSecretValue', 'ssm:GetParameterWithDecryption', 'kms:Decrypt'];
    expect(grants.flatMap((g) => g.actions).filter((action) => reads.includes(action))).toEqual([]);
  });
});

describe('the source scan (test/helpers/sdk-usage.ts)', () => {
  it('charges a task with the helpers it uses, not with the rest of their module', () => {
    const root = mkdtempSync(join(tmpdir(), 'sdk-usage-'));
    mkdirSync(join(root, 'shared'));
    mkdirSync(join(root, 'task'));
    writeFileSync(
      join(root, 'shared', 'helpers.ts'),
      `import { PutParameterCommand, DeleteParameterCommand, paginateGetParametersByPath } from '@aws-sdk/client-ssm';
       import { waitUntilInstanceRunning } from '@aws-sdk/client-ec2';
       const write = (ssm: any) => ssm.send(new PutParameterCommand({}));
       export async function store(ssm: any) { await write(ssm); for await (const _ of paginateGetParametersByPath({ client: ssm }, {})) {} }
       export async function remove(ssm: any) { await ssm.send(new DeleteParameterCommand({})); }
       export const boot = (ec2: any) => waitUntilInstanceRunning({ client: ec2, maxWaitTime: 60 }, {});`,
    );
    writeFileSync(
      join(root, 'task', 'task.ts'),
      `import { CreateKeyPairCommand } from '@aws-sdk/client-ec2';
       import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
       import { store, boot } from '../shared/helpers.js';
       export async function task(c: any) { await c.ec2.send(new CreateKeyPairCommand({})); await c.sts.send(new GetCallerIdentityCommand({})); await store(c.ssm); await boot(c.ec2); }`,
    );

    expect([...sdkActionsOfTask(join(root, 'task'))].sort()).toEqual([
      'ec2:CreateKeyPair',
      'ec2:DescribeInstances',
      'ssm:GetParametersByPath',
      'ssm:PutParameter',
      'sts:GetCallerIdentity',
    ]);
  });

  it('charges a task with the methods of a class it calls (and what they call), not the others', () => {
    const root = mkdtempSync(join(tmpdir(), 'sdk-usage-'));
    mkdirSync(join(root, 'shared'));
    mkdirSync(join(root, 'task'));
    writeFileSync(
      join(root, 'shared', 'store.ts'),
      `import { GetCommand, PutCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
       export class Store {
         constructor(readonly doc: any) {}
         async read() { return this.doc.send(new GetCommand({})); }
         async change() { await this.read(); return this.doc.send(new UpdateCommand({})); }
         async write() { return this.doc.send(new PutCommand({})); }
         async list() { return this.doc.send(new ScanCommand({})); }
       }`,
    );
    writeFileSync(
      join(root, 'task', 'task.ts'),
      `import { Store } from '../shared/store.js';
       export async function task(doc: any) { await new Store(doc).change(); }`,
    );
    expect([...sdkActionsOfTask(join(root, 'task'))].sort()).toEqual([
      'dynamodb:GetItem',
      'dynamodb:UpdateItem',
    ]);
  });
});
