import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { LAB_FUNCTIONS, NOT_DEPLOYED_YET } from '../../infra/functions.js';
import {
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

  it('deploys every task folder that has a handler, or says it does not yet (the portal API too)', () => {
    const withHandler = readdirSync(FUNCTIONS_DIR).filter(
      (name) => name !== 'shared' && name !== 'api' && existsSync(join(FUNCTIONS_DIR, name, 'handler.ts')),
    );
    const listed = new Set<string>([...LAB_FUNCTIONS.map((fn) => fn.name), ...NOT_DEPLOYED_YET]);
    expect(withHandler.filter((name) => !listed.has(name))).toEqual([]);
  });
});

describe('each task role grants every AWS call its source makes', () => {
  /** What the handler wrapper calls (step progress in the registry), granted with the registry. */
  const wrapper = sdkActionsOfExport(join(FUNCTIONS_DIR, 'shared', 'handler.ts'), 'labHandler');

  it('has task sources to check', () => {
    expect(written.length).toBeGreaterThan(0);
  });

  it('grants the handler wrapper’s registry calls with the registry', () => {
    const progress = new Set<string>([...PROGRESS_ACTIONS.table, ...PROGRESS_ACTIONS.bus]);
    expect([...wrapper].filter((action) => !progress.has(action))).toEqual([]);
  });

  it.each(written)('%s', (name) => {
    const calls = [...sdkActionsOfTask(join(FUNCTIONS_DIR, name))].filter(
      (a) => !NO_PERMISSION_NEEDED.has(a) && !wrapper.has(a),
    );
    const granted = grantedActions(name);
    expect(calls.filter((action) => !granted.has(action)).sort()).toEqual([]);
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
      'create-instance-role',
      'launch-instances',
    ]);
    for (const grant of passRole) {
      expect(grant.actions).toEqual(['iam:PassRole']);
      expect(grant.resources).toHaveLength(1);
      expect(grant.resources[0]).toMatch(/:role\/(SSMLabRole|SSMServiceRole)$/);
      const service = grant.resources[0]!.endsWith('SSMLabRole') ? 'ec2.amazonaws.com' : 'ssm.amazonaws.com';
      expect(grant.conditions).toEqual({ StringEquals: { 'iam:PassedToService': service } });
    }
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
});
