import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { App as CdkApp, Stack, Validations, type App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { placeholdersOf } from '../../infra/asl.js';
import { LabFunctions } from '../../infra/constructs/lab-functions.js';
import { createApp } from '../../infra/create-app.js';
import {
  LAB_FUNCTIONS,
  STATE_MACHINES,
  functionArnPlaceholder,
  pascalCase,
  stateMachineArnPlaceholder,
} from '../../infra/functions.js';
import { PROGRESS_ACTIONS, WILDCARD_ONLY_ACTIONS, grantedActions } from '../../infra/permissions.js';
import type { SessionLabStack } from '../../infra/stack.js';

/**
 * The synthesized stack, once for the file: resources and their key properties, roles no wider
 * than infra/permissions.ts allows, cdk-nag's AwsSolutions pack (an unacknowledged finding fails
 * the synth) and cfn-lint on the template.
 *
 * The Lambda bundles are stand-ins: the template only hashes an asset's files, and whether every
 * handler bundles is `npm run build`'s check (and `npm run synth` refuses a missing bundle).
 */

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}
interface Resource {
  Type: string;
  Properties: Record<string, unknown>;
}

const list = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

function standInBundles(): string {
  const dir = mkdtempSync(join(tmpdir(), 'session-lab-bundles-'));
  for (const { name } of LAB_FUNCTIONS) {
    mkdirSync(join(dir, name));
    writeFileSync(
      join(dir, name, 'index.mjs'),
      `export const handler = async () => ({ stand_in: '${name}' });\n`,
    );
  }
  return dir;
}

let app: App;
let stack: SessionLabStack;
let template: Template;
let resources: Record<string, Resource>;
let templatePath: string;

const logicalId = (construct: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId(construct.node.defaultChild as never);

beforeAll(() => {
  const outdir = mkdtempSync(join(tmpdir(), 'session-lab-cdk-out-'));
  ({ app, stack } = createApp({ bundleDir: standInBundles(), outdir }));
  // Throws on any cdk-nag AwsSolutions error that is not acknowledged.
  const assembly = app.synth();
  const artifact = assembly.getStackByName(stack.stackName);
  templatePath = join(outdir, artifact.templateFile);
  template = Template.fromJSON(artifact.template as Record<string, unknown>);
  resources = (artifact.template as { Resources: Record<string, Resource> }).Resources;
}, 300_000);

describe('Lambda functions', () => {
  it('deploys one function per lab task, from its bundle, on the newest Node.js runtime', () => {
    template.resourceCountIs('AWS::Lambda::Function', LAB_FUNCTIONS.length);
    for (const spec of LAB_FUNCTIONS) {
      const fn = stack.labFunctions.functions.get(spec.name)!;
      expect(resources[logicalId(fn)]?.Properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Handler: 'index.handler',
        Architectures: ['arm64'],
        Timeout: spec.timeoutSeconds,
        Role: { 'Fn::GetAtt': [logicalId(stack.labFunctions.roles.get(spec.name)!), 'Arn'] },
        LoggingConfig: { LogGroup: { Ref: expect.any(String) } },
      });
    }
  });

  it('gives every function a log group with retention', () => {
    for (const fn of stack.labFunctions.functions.values()) {
      const logGroup = (resources[logicalId(fn)]!.Properties.LoggingConfig as { LogGroup: { Ref: string } })
        .LogGroup;
      expect(resources[logGroup.Ref]).toMatchObject({
        Type: 'AWS::Logs::LogGroup',
        Properties: { RetentionInDays: 30 },
      });
    }
  });

  it('stays below the Task states’ TimeoutSeconds, so a hung function fails as a Lambda timeout', () => {
    for (const spec of LAB_FUNCTIONS) expect(spec.timeoutSeconds).toBeLessThan(330);
  });
});

describe('task roles', () => {
  const roleOf = (name: (typeof LAB_FUNCTIONS)[number]['name']) =>
    resources[logicalId(stack.labFunctions.roles.get(name)!)]!.Properties;
  const statementsOf = (name: (typeof LAB_FUNCTIONS)[number]['name']) =>
    (roleOf(name).Policies as { PolicyDocument: { Statement: Statement[] } }[]).flatMap(
      (policy) => policy.PolicyDocument.Statement,
    );

  it.each(LAB_FUNCTIONS.map((fn) => fn.name))(
    '%s: its own role, exactly its grants, no managed policy',
    (name) => {
      const role = roleOf(name);
      expect(role.ManagedPolicyArns).toBeUndefined();
      expect(role.AssumeRolePolicyDocument).toMatchObject({
        Statement: [{ Action: 'sts:AssumeRole', Principal: { Service: 'lambda.amazonaws.com' } }],
      });
      const allowed = statementsOf(name).filter((s) => s.Effect === 'Allow');
      const actions = new Set(allowed.flatMap((s) => list(s.Action)));
      expect([...actions].sort()).toEqual(
        [...grantedActions(name), 'logs:CreateLogStream', 'logs:PutLogEvents']
          .filter((a, i, all) => all.indexOf(a) === i)
          .sort(),
      );
      for (const statement of allowed) {
        expect(list(statement.Action).filter((action) => action.includes('*'))).toEqual([]);
        if (list(statement.Resource).includes('*')) {
          expect(list(statement.Action).filter((action) => !WILDCARD_ONLY_ACTIONS[action])).toEqual([]);
        }
      }
      // Logs only to its own group.
      const logs = allowed.find((s) => list(s.Action).includes('logs:PutLogEvents'))!;
      const fn = resources[logicalId(stack.labFunctions.functions.get(name)!)]!;
      const group = (fn.Properties.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
      expect(logs.Resource).toEqual({ 'Fn::GetAtt': [group, 'Arn'] });
    },
  );

  it.each(LAB_FUNCTIONS.map((fn) => fn.name))('%s: can never decrypt a secret', (name) => {
    const deny = statementsOf(name).find((s) => s.Effect === 'Deny');
    expect(deny).toMatchObject({ Action: ['kms:Decrypt', 'secretsmanager:GetSecretValue'], Resource: '*' });
  });

  it('lets only three tasks pass a role: each only a lab role, each only to the service that uses it', () => {
    const passers = LAB_FUNCTIONS.map((fn) => fn.name).filter((name) =>
      statementsOf(name).some((s) => list(s.Action).includes('iam:PassRole')),
    );
    expect(passers.sort()).toEqual(['create-activations', 'create-instance-role', 'launch-instances']);
    for (const name of passers) {
      for (const statement of statementsOf(name).filter((s) => list(s.Action).includes('iam:PassRole'))) {
        expect(statement.Action).toBe('iam:PassRole');
        expect(statement.Resource).toEqual({
          'Fn::Sub': expect.stringMatching(
            /^arn:\$\{AWS::Partition\}:iam::\$\{AWS::AccountId\}:role\/SSM(Lab|Service)Role$/,
          ),
        });
        expect(statement.Condition).toEqual({
          StringEquals: { 'iam:PassedToService': expect.stringMatching(/^(ec2|ssm)\.amazonaws\.com$/) },
        });
      }
    }
  });

  it('scopes IAM writes to the lab’s own roles, users and policies', () => {
    for (const name of LAB_FUNCTIONS.map((fn) => fn.name)) {
      for (const statement of statementsOf(name).filter((s) => s.Effect === 'Allow')) {
        const writesIam = list(statement.Action).some((a) =>
          /^iam:(Create|Delete|Attach|Detach|Put|Update|Add|Tag)/.test(a),
        );
        if (!writesIam) continue;
        for (const resource of list(statement.Resource)) {
          expect((resource as { 'Fn::Sub': string })['Fn::Sub']).toMatch(
            /:(role\/SSMLabRole|role\/SSMServiceRole|instance-profile\/SSMLabProfile|user\/MyWorkshopUser-\*|policy\/SSMDevAccess-\*)$/,
          );
        }
      }
    }
  });

  it('mutates EC2 resources only when they carry the session-lab tag, or creates them tagged so', () => {
    const created: Record<string, RegExp> = {
      'ec2:RunInstances': /:instance\/\*/,
      'ec2:CreateSecurityGroup': /:security-group\/\*/,
      'ec2:CreateKeyPair': /:key-pair\/\*/,
    };
    const mutations = /^ec2:(Terminate|Delete|Revoke|Authorize|Stop|Modify)/;
    for (const name of LAB_FUNCTIONS.map((fn) => fn.name)) {
      for (const statement of statementsOf(name).filter((s) => s.Effect === 'Allow')) {
        const actions = list(statement.Action);
        const targets = JSON.stringify(statement.Resource);
        const condition = JSON.stringify(statement.Condition ?? {});
        for (const action of actions) {
          if (created[action]?.test(targets)) {
            // The other resources a create call is authorized against (AMI, subnet, VPC) are used, not made.
            expect([name, action, condition]).toEqual([
              name,
              action,
              expect.stringContaining('aws:RequestTag/session-lab:managed-by'),
            ]);
          } else if (mutations.test(action)) {
            expect([name, action, condition]).toEqual([
              name,
              action,
              expect.stringContaining('aws:ResourceTag/session-lab:managed-by'),
            ]);
          }
        }
      }
    }
  });
});

describe('state machines', () => {
  const machineOf = (name: (typeof STATE_MACHINES)[number]) =>
    resources[logicalId(stack.workflows.stateMachines.get(name)!)]!;
  const policyOf = (name: (typeof STATE_MACHINES)[number]) => {
    const roleId = logicalId(stack.workflows.stateMachines.get(name)!.role as never);
    return Object.values(resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties.Roles).includes(roleId))
      .flatMap((r) => (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
  };

  it('deploys the three workflow files as Standard state machines', () => {
    template.resourceCountIs('AWS::StepFunctions::StateMachine', STATE_MACHINES.length);
    for (const name of STATE_MACHINES) {
      expect(machineOf(name).Properties).toMatchObject({
        StateMachineName: `${stack.stackName}-${name}`,
        StateMachineType: 'STANDARD',
        DefinitionS3Location: { Key: expect.stringMatching(/\.json$/) },
      });
    }
  });

  it('fills every placeholder with the ARN of the function or state machine it names', () => {
    for (const name of STATE_MACHINES) {
      const substitutions = machineOf(name).Properties.DefinitionSubstitutions as Record<string, unknown>;
      expect(Object.keys(substitutions).sort()).toEqual(placeholdersOf(name));
      for (const spec of LAB_FUNCTIONS) {
        const placeholder = functionArnPlaceholder(spec.name);
        if (!(placeholder in substitutions)) continue;
        const fn = stack.labFunctions.functions.get(spec.name)!;
        expect(substitutions[placeholder]).toEqual({ 'Fn::GetAtt': [logicalId(fn), 'Arn'] });
      }
    }
    const reset = machineOf('reset-lab').Properties.DefinitionSubstitutions as Record<string, unknown>;
    for (const child of ['provision-lab', 'teardown-lab'] as const) {
      expect(reset[stateMachineArnPlaceholder(child)]).toEqual({
        Ref: logicalId(stack.workflows.stateMachines.get(child)!),
      });
    }
  });

  it('logs every execution without its data, to a log group with retention, and traces it with X-Ray', () => {
    for (const name of STATE_MACHINES) {
      const properties = machineOf(name).Properties;
      expect(properties.TracingConfiguration).toEqual({ Enabled: true });
      expect(properties.LoggingConfiguration).toMatchObject({ Level: 'ALL', IncludeExecutionData: false });
      const destination = JSON.stringify(properties.LoggingConfiguration);
      const group = Object.entries(resources).find(
        ([id, r]) => r.Type === 'AWS::Logs::LogGroup' && destination.includes(`"${id}"`),
      );
      expect(group?.[1].Properties).toMatchObject({
        LogGroupName: `/aws/vendedlogs/states/${stack.stackName}-${name}`,
        RetentionInDays: 30,
      });
    }
  });

  it('may invoke exactly the functions its file names', () => {
    for (const name of STATE_MACHINES) {
      const invoke = policyOf(name).filter((s) => list(s.Action).includes('lambda:InvokeFunction'));
      const invoked = invoke.flatMap((s) => list(s.Resource)).map((r) => JSON.stringify(r));
      const named = LAB_FUNCTIONS.filter((spec) =>
        placeholdersOf(name).includes(functionArnPlaceholder(spec.name)),
      ).map((spec) =>
        JSON.stringify({ 'Fn::GetAtt': [logicalId(stack.labFunctions.functions.get(spec.name)!), 'Arn'] }),
      );
      expect(invoked.sort()).toEqual(named.sort());
    }
  });

  it('lets reset-lab start, watch and stop only the provision and teardown executions', () => {
    const statements = policyOf('reset-lab');
    const start = statements.find((s) => list(s.Action).includes('states:StartExecution'))!;
    expect(list(start.Resource).sort()).toEqual(
      (['provision-lab', 'teardown-lab'] as const)
        .map((child) => ({ Ref: logicalId(stack.workflows.stateMachines.get(child)!) }))
        .sort((a, b) => a.Ref.localeCompare(b.Ref)),
    );
    const watch = statements.find((s) => list(s.Action).includes('states:DescribeExecution'))!;
    expect(JSON.stringify(watch.Resource)).toContain(`:execution:${stack.stackName}-provision-lab:*`);
    expect(JSON.stringify(watch.Resource)).toContain(`:execution:${stack.stackName}-teardown-lab:*`);
    expect(policyOf('provision-lab').some((s) => list(s.Action).includes('states:StartExecution'))).toBe(
      false,
    );
  });

  it('outputs the state machine ARNs', () => {
    for (const name of STATE_MACHINES) {
      template.hasOutput(`${pascalCase(name)}StateMachineArn`, {
        Value: { Ref: logicalId(stack.workflows.stateMachines.get(name)!) },
      });
    }
  });
});

describe('checks', () => {
  it('passes cdk-nag AwsSolutions: only wildcard findings acknowledged, each with a written reason', () => {
    // The synth in beforeAll throws on any finding that is not acknowledged. Acknowledgements are
    // metadata `{ "Annotation::<rule id>": reason }`, the form cdk-nag 3 reads.
    const acknowledged = app.node
      .findAll()
      .flatMap((construct) => construct.node.metadata)
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) => Object.entries(entry.data as Record<string, string>));
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const [id, reason] of acknowledged) {
      expect(id).toMatch(/^Annotation::AwsSolutions-IAM5\[Resource::.+\]$/);
      expect([id, reason.length > 20]).toEqual([id, true]);
    }
  });

  it('passes cfn-lint (warnings allowed, errors not)', () => {
    const lint = spawnSync('cfn-lint', ['--format', 'parseable', templatePath], { encoding: 'utf8' });
    expect(lint.error).toBeUndefined();
    expect(lint.stdout.split('\n').filter((line) => /:E\d{4}:/.test(line))).toEqual([]);
    // 0: clean; 4: warnings only. 2 and 6 mean errors.
    if (lint.status !== 0 && lint.status !== 4) {
      throw new Error(`cfn-lint exited ${lint.status}:\n${lint.stdout}${lint.stderr}`);
    }
  }, 120_000);

  it('refuses to synthesize when a listed function has no bundle, naming it', () => {
    const bundleDir = standInBundles();
    rmSync(join(bundleDir, 'verify-lab', 'index.mjs'));
    expect(() =>
      createApp({ bundleDir, outdir: mkdtempSync(join(tmpdir(), 'session-lab-cdk-out-')) }),
    ).toThrow(/Missing Lambda bundle\(s\) in .*: verify-lab\/index\.mjs\. Run `npm run build` first/);
  });
});

describe('with a lab registry', () => {
  it('tells every task where it is and lets it write only there', () => {
    const scope = new Stack(new CdkApp(), 'WithRegistry');
    const tableArn = 'arn:aws:dynamodb:us-east-1:123456789012:table/session-lab-registry';
    const eventBusArn = 'arn:aws:events:us-east-1:123456789012:event-bus/default';
    const tasks = new LabFunctions(scope, 'Tasks', {
      bundleDir: standInBundles(),
      registry: { tableName: 'session-lab-registry', tableArn, eventBusArn },
    });
    const synthesized = Template.fromStack(scope).toJSON() as { Resources: Record<string, Resource> };
    for (const [name, fn] of tasks.functions) {
      const properties = synthesized.Resources[scope.getLogicalId(fn.node.defaultChild as never)]!.Properties;
      expect((properties.Environment as { Variables: Record<string, string> }).Variables).toMatchObject({
        REGISTRY_TABLE: 'session-lab-registry',
        EVENT_BUS_NAME: eventBusArn,
      });
      const role =
        synthesized.Resources[scope.getLogicalId(tasks.roles.get(name)!.node.defaultChild as never)]!;
      const statements = (
        role.Properties.Policies as { PolicyDocument: { Statement: Statement[] } }[]
      ).flatMap((policy) => policy.PolicyDocument.Statement);
      expect(statements).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ Action: [...PROGRESS_ACTIONS.table], Resource: tableArn }),
          expect.objectContaining({ Action: PROGRESS_ACTIONS.bus[0], Resource: eventBusArn }),
        ]),
      );
    }
  });
});
