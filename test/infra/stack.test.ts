import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { App as CdkApp, Stack, Validations, type App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { placeholdersOf } from '../../infra/asl.js';
import { LabFunctions } from '../../infra/constructs/lab-functions.js';
import { DEFAULT_RESET_SCHEDULE } from '../../infra/constructs/lab-lifecycle.js';
import { createApp } from '../../infra/create-app.js';
import {
  API_FUNCTIONS,
  LAB_FUNCTIONS,
  STATE_MACHINES,
  apiBundleName,
  functionArnPlaceholder,
  pascalCase,
  stateMachineArnPlaceholder,
} from '../../infra/functions.js';
import {
  API_PERMISSIONS,
  PROGRESS_ACTIONS,
  WILDCARD_ONLY_ACTIONS,
  grantedActions,
} from '../../infra/permissions.js';
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
  for (const name of [
    ...LAB_FUNCTIONS.map((fn) => fn.name),
    ...API_FUNCTIONS.map((fn) => apiBundleName(fn.route)),
  ]) {
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

// aws-cdk-lib's built-in CloudFormation validation (a WASM rule engine run on every synth) only
// warns here: without the @aws-cdk/core:validateAgainstDefaultRules flag it downgrades its errors
// to warnings and never fails the synth. This file lints the template with cfn-lint instead, where
// errors fail, so the built-in pass is switched off as its documentation allows (CDK_VALIDATION):
// its engine's start-up cost about 7 s of CPU for findings nothing here reads. cdk-nag, a plugin
// createApp registers, still runs on every synth.
const savedValidation = process.env.CDK_VALIDATION;
beforeAll(() => {
  process.env.CDK_VALIDATION = 'false';
});
afterAll(() => {
  if (savedValidation === undefined) delete process.env.CDK_VALIDATION;
  else process.env.CDK_VALIDATION = savedValidation;
});

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
  it('deploys one function per lab task and per API route, from its bundle, on the newest Node.js runtime', () => {
    template.resourceCountIs('AWS::Lambda::Function', LAB_FUNCTIONS.length + API_FUNCTIONS.length);
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
      const progress = LAB_FUNCTIONS.find((fn) => fn.name === name)!.workflow !== 'lifecycle';
      expect([...actions].sort()).toEqual(
        [
          ...grantedActions(name),
          'logs:CreateLogStream',
          'logs:PutLogEvents',
          ...(progress ? [...PROGRESS_ACTIONS.table, ...PROGRESS_ACTIONS.bus] : []),
        ]
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
            /^arn:\$\{AWS::Partition\}:iam::\$\{AWS::AccountId\}:role\/(SSM(Lab|Service)Role|SessionLab(Bootstrap|DevHost|DevNode)-\*)$/,
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
            /:(role\/SSMLabRole|role\/SSMServiceRole|instance-profile\/SSMLabProfile|(role|instance-profile)\/SessionLab(Bootstrap|DevHost)-\*|role\/SessionLabDevNode-\*|user\/MyWorkshopUser-\*|policy\/SSMDevAccess-\*)$/,
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

  it('deploys the workflow files as Standard state machines', () => {
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

  it('lets provision-class start, watch and stop only provision-lab executions', () => {
    const statements = policyOf('provision-class');
    const start = statements.find((s) => list(s.Action).includes('states:StartExecution'))!;
    expect(list(start.Resource)).toEqual([
      { Ref: logicalId(stack.workflows.stateMachines.get('provision-lab')!) },
    ]);
    const watch = statements.find((s) => list(s.Action).includes('states:DescribeExecution'))!;
    expect(JSON.stringify(watch.Resource)).toContain(`:execution:${stack.stackName}-provision-lab:*`);
    expect(JSON.stringify(watch.Resource)).not.toContain('teardown-lab');
    expect(statements.some((s) => list(s.Action).includes('lambda:InvokeFunction'))).toBe(false);
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
    // Wildcards each with its reason, and a few findings that do not apply, each explained:
    // request validation (the routes validate, naming the field), WAF (IAM authorization on every
    // method), and the dead-letter queue that is itself a dead-letter queue.
    const others = new Set(['AwsSolutions-APIG2', 'AwsSolutions-APIG3', 'AwsSolutions-SQS3']);
    for (const [id, reason] of acknowledged) {
      const rule = id.replace(/^Annotation::/, '');
      expect([id, /^AwsSolutions-IAM5\[Resource::.+\]$/.test(rule) || others.has(rule)]).toEqual([id, true]);
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

describe('task progress in the lab registry', () => {
  const fnOf = (name: (typeof LAB_FUNCTIONS)[number]['name']) =>
    resources[logicalId(stack.labFunctions.functions.get(name)!)]!.Properties;

  it('tells every lab step where to record its progress and under which step name, and lets it write only there', () => {
    const table = { 'Fn::GetAtt': [logicalId(stack.registry.table), 'Arn'] };
    const bus = { 'Fn::GetAtt': [logicalId(stack.registry.eventBus), 'Arn'] };
    for (const spec of LAB_FUNCTIONS.filter((fn) => fn.workflow !== 'lifecycle')) {
      const variables = (fnOf(spec.name).Environment as { Variables: Record<string, unknown> }).Variables;
      expect([spec.name, variables]).toEqual([
        spec.name,
        expect.objectContaining({
          REGISTRY_TABLE: { Ref: logicalId(stack.registry.table) },
          EVENT_BUS_NAME: bus,
        }),
      ]);
      const statements = (
        resources[logicalId(stack.labFunctions.roles.get(spec.name)!)]!.Properties.Policies as {
          PolicyDocument: { Statement: Statement[] };
        }[]
      ).flatMap((policy) => policy.PolicyDocument.Statement);
      expect(statements).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ Action: PROGRESS_ACTIONS.table[0], Resource: table }),
          expect.objectContaining({ Action: PROGRESS_ACTIONS.bus[0], Resource: bus }),
        ]),
      );
      // Nothing else on the bus, nothing but progress on the table (unless the task keeps the registry).
      for (const statement of statements.filter((st) => JSON.stringify(st.Resource) === JSON.stringify(bus)))
        expect(statement.Action).toBe('events:PutEvents');
    }
  });

  it('names each step as the state that runs it', () => {
    const step = (name: (typeof LAB_FUNCTIONS)[number]['name']) =>
      (fnOf(name).Environment as { Variables: Record<string, unknown> }).Variables.STEP_NAME;
    expect(step('create-key-pair')).toBe('Create key pair');
    expect(step('acquire-shared-resources')).toBe('Acquire shared resources');
    expect(step('release-shared-resources')).toBe('Release shared resources');
    expect(step('validate-lab-input')).toBe('Validate lab input');
    // record-lab-status runs at several states and records no progress of its own.
    expect(step('record-lab-status')).toBeUndefined();
  });
});

describe('the lab registry', () => {
  it('is one table: pk string key, on demand, TTL on expiresAt, point-in-time recovery, a stream of old images, retained', () => {
    const table = resources[logicalId(stack.registry.table)]!;
    expect(table).toMatchObject({
      DeletionPolicy: 'Retain',
      Properties: {
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        StreamSpecification: { StreamViewType: 'OLD_IMAGE' },
      },
    });
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
  });

  it('gives its TTL removals, and only those, to reset-due-labs, with a dead-letter queue', () => {
    const mapping = Object.values(resources).find((r) => r.Type === 'AWS::Lambda::EventSourceMapping')!;
    expect(mapping.Properties).toMatchObject({
      EventSourceArn: { 'Fn::GetAtt': [logicalId(stack.registry.table), 'StreamArn'] },
      FunctionName: { Ref: logicalId(stack.labFunctions.functions.get('reset-due-labs')!) },
      DestinationConfig: {
        OnFailure: { Destination: { 'Fn::GetAtt': [logicalId(stack.registry.deadLetterQueue), 'Arn'] } },
      },
      BisectBatchOnFunctionError: true,
    });
    const [filter] = (mapping.Properties.FilterCriteria as { Filters: { Pattern: string }[] }).Filters;
    expect(JSON.parse(filter!.Pattern)).toEqual({
      eventName: ['REMOVE'],
      userIdentity: { type: ['Service'], principalId: ['dynamodb.amazonaws.com'] },
    });
  });

  it('lets each lifecycle task do only what it needs on the table, nothing on another', () => {
    const table = JSON.stringify({ 'Fn::GetAtt': [logicalId(stack.registry.table), 'Arn'] });
    const wanted: Record<string, string[]> = {
      'acquire-shared-resources': ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
      // The shared roles' readiness marks (PutItem by the first holder, GetItem by the others).
      'create-instance-role': ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
      'create-service-role': ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
      'release-shared-resources': ['dynamodb:GetItem', 'dynamodb:Scan', 'dynamodb:UpdateItem'],
      'record-lab-status': ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
      'reset-due-labs': ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Scan', 'dynamodb:UpdateItem'],
    };
    for (const spec of LAB_FUNCTIONS) {
      const statements = (
        resources[logicalId(stack.labFunctions.roles.get(spec.name)!)]!.Properties.Policies as {
          PolicyDocument: { Statement: Statement[] };
        }[]
      ).flatMap((policy) => policy.PolicyDocument.Statement);
      const dynamo = statements.filter((st) => list(st.Action).some((a) => a.startsWith('dynamodb:')));
      const onTable = dynamo.filter((st) => JSON.stringify(st.Resource).includes(table));
      const actions = [...new Set(onTable.flatMap((st) => list(st.Action)))].sort();
      expect([spec.name, actions]).toEqual([spec.name, wanted[spec.name] ?? ['dynamodb:UpdateItem']]);
      for (const statement of dynamo.filter((st) => !onTable.includes(st))) {
        // Only reset-due-labs reads the table's stream (ListStreams has no resource type).
        expect(spec.name).toBe('reset-due-labs');
        expect(JSON.stringify(statement.Resource)).toMatch(/StreamArn|"\*"/);
      }
    }
  });
});

describe('the schedules and the status-change rule', () => {
  const schedules = () => Object.values(resources).filter((r) => r.Type === 'AWS::Scheduler::Schedule');
  const resetDueLabs = () => ({
    'Fn::GetAtt': [logicalId(stack.labFunctions.functions.get('reset-due-labs')!), 'Arn'],
  });

  it('runs the nightly reset and a frequent expiry sweep on reset-due-labs, with retries and a dead-letter queue', () => {
    const byExpression = Object.fromEntries(
      schedules().map((r) => [r.Properties.ScheduleExpression as string, r.Properties]),
    );
    expect(Object.keys(byExpression).sort()).toEqual([DEFAULT_RESET_SCHEDULE, 'rate(15 minutes)'].sort());
    expect(JSON.parse((byExpression[DEFAULT_RESET_SCHEDULE]!.Target as { Input: string }).Input)).toEqual({
      expire: true,
      reset: true,
    });
    expect(JSON.parse((byExpression['rate(15 minutes)']!.Target as { Input: string }).Input)).toEqual({
      reset: false,
    });
    for (const properties of Object.values(byExpression)) {
      expect(properties).toMatchObject({
        ScheduleExpressionTimezone: 'UTC',
        FlexibleTimeWindow: { Mode: 'OFF' },
        Target: {
          Arn: resetDueLabs(),
          RoleArn: { 'Fn::GetAtt': [logicalId(stack.lifecycle.schedulerRole), 'Arn'] },
          RetryPolicy: {
            MaximumRetryAttempts: expect.any(Number),
            MaximumEventAgeInSeconds: expect.any(Number),
          },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalId(stack.registry.deadLetterQueue), 'Arn'] } },
        },
      });
    }
  });

  it('gives the schedules a role that may only invoke reset-due-labs (and send to the dead-letter queue)', () => {
    const role = resources[logicalId(stack.lifecycle.schedulerRole)]!.Properties;
    expect(role.AssumeRolePolicyDocument).toMatchObject({
      Statement: [
        {
          Action: 'sts:AssumeRole',
          Principal: { Service: 'scheduler.amazonaws.com' },
          Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
        },
      ],
    });
    const statements = (role.Policies as { PolicyDocument: { Statement: Statement[] } }[]).flatMap(
      (policy) => policy.PolicyDocument.Statement,
    );
    expect(statements).toEqual([
      expect.objectContaining({ Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: resetDueLabs() }),
      expect.objectContaining({
        Effect: 'Allow',
        Action: 'sqs:SendMessage',
        Resource: { 'Fn::GetAtt': [logicalId(stack.registry.deadLetterQueue), 'Arn'] },
      }),
    ]);
    expect(
      Object.values(resources).some(
        (r) =>
          r.Type === 'AWS::IAM::Policy' &&
          JSON.stringify(r.Properties.Roles).includes(logicalId(stack.lifecycle.schedulerRole)),
      ),
    ).toBe(false);
  });

  it('takes the nightly reset’s expression (and the sweep’s) from the deployment', () => {
    const outdir = mkdtempSync(join(tmpdir(), 'session-lab-cdk-out-'));
    const configured = createApp({
      bundleDir: standInBundles(),
      outdir,
      context: { resetSchedule: 'cron(30 1 ? * MON-FRI *)', expirySchedule: 'rate(1 hour)' },
    });
    const expressions = Object.values(
      Template.fromStack(configured.stack).findResources('AWS::Scheduler::Schedule'),
    ).map((r) => (r as Resource).Properties.ScheduleExpression);
    expect(expressions.sort()).toEqual(['cron(30 1 ? * MON-FRI *)', 'rate(1 hour)']);
    expect(() =>
      createApp({ bundleDir: standInBundles(), outdir, context: { resetSchedule: 'every night' } }),
    ).toThrow(/resetSchedule: "every night" is not an EventBridge Scheduler expression/);
  });

  it('passes allowSeedPolicyMode to validate-lab-input and the API routes that take lab input (default true)', () => {
    const variablesOf = (configured: typeof stack, fn: { node: { defaultChild?: unknown } }) =>
      (Template.fromStack(configured).toJSON() as { Resources: Record<string, Resource> }).Resources[
        configured.getLogicalId(fn.node.defaultChild as never)
      ]!.Properties.Environment as {
        Variables: Record<string, unknown>;
      };
    const takesLabInput = (configured: typeof stack) => [
      configured.labFunctions.functions.get('validate-lab-input')!,
      configured.portalApi.functions.get('create-lab')!,
      configured.portalApi.functions.get('create-class')!,
    ];
    for (const fn of takesLabInput(stack)) {
      expect(variablesOf(stack, fn).Variables.ALLOW_SEED_POLICY_MODE).toBe('true');
    }
    expect(variablesOf(stack, stack.portalApi.functions.get('get-lab')!).Variables).not.toHaveProperty(
      'ALLOW_SEED_POLICY_MODE',
    );
    const outdir = mkdtempSync(join(tmpdir(), 'session-lab-cdk-out-'));
    const configured = createApp({
      bundleDir: standInBundles(),
      outdir,
      context: { allowSeedPolicyMode: 'false' },
    }).stack;
    for (const fn of takesLabInput(configured)) {
      expect(variablesOf(configured, fn).Variables.ALLOW_SEED_POLICY_MODE).toBe('false');
    }
    expect(() =>
      createApp({ bundleDir: standInBundles(), outdir, context: { allowSeedPolicyMode: 'no' } }),
    ).toThrow(/allowSeedPolicyMode: must be true or false/);
  });

  it('records the end of every lab workflow execution through record-lab-status', () => {
    const rule = resources[logicalId(stack.lifecycle.statusRule)]!.Properties;
    expect(rule.EventPattern).toEqual({
      source: ['aws.states'],
      'detail-type': ['Step Functions Execution Status Change'],
      detail: {
        stateMachineArn: (['provision-lab', 'teardown-lab', 'reset-lab'] as const).map((name) => ({
          Ref: logicalId(stack.workflows.stateMachines.get(name)!),
        })),
        status: ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'],
      },
    });
    expect(rule.Targets).toEqual([
      expect.objectContaining({
        Arn: { 'Fn::GetAtt': [logicalId(stack.labFunctions.functions.get('record-lab-status')!), 'Arn'] },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalId(stack.registry.deadLetterQueue), 'Arn'] } },
        RetryPolicy: expect.any(Object),
      }),
    ]);
  });
});

describe('the training-portal API', () => {
  const api = () => resources[logicalId(stack.portalApi.api)]!.Properties;
  const body = () =>
    api().Body as {
      security: unknown;
      components: { securitySchemes: Record<string, Record<string, string>> };
      paths: Record<
        string,
        Record<string, { security?: unknown; 'x-amazon-apigateway-integration': { uri: unknown } }>
      >;
    };
  const operations = () =>
    Object.entries(body().paths).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([method]) => ['get', 'post', 'put', 'delete', 'patch'].includes(method))
        .map(([method, operation]) => ({ path, method, operation })),
    );

  it('requires IAM (SigV4) authorization on every method', () => {
    expect(body().security).toEqual([{ sigv4: [] }]);
    expect(body().components.securitySchemes.sigv4).toMatchObject({
      type: 'apiKey',
      name: 'Authorization',
      in: 'header',
      'x-amazon-apigateway-authtype': 'awsSigv4',
    });
    expect(operations()).toHaveLength(API_FUNCTIONS.length);
    // No operation opts out of the API-wide requirement.
    for (const { path, method, operation } of operations())
      expect([path, method, operation.security]).toEqual([path, method, undefined]);
  });

  it('integrates each route with its own function (placeholders filled by Fn::Sub) and lets only this API’s route invoke it', () => {
    for (const { path, method, operation } of operations()) {
      const route = stack.portalApi.operations.find(
        (op) => op.path === path && op.method === method.toUpperCase(),
      )!.route;
      const fn = stack.portalApi.functions.get(route as never)!;
      const variable = `Api${pascalCase(route)}FunctionArn`;
      expect(operation['x-amazon-apigateway-integration'].uri).toEqual({
        'Fn::Sub': [
          expect.stringContaining(`\${${variable}}`),
          { [variable]: { 'Fn::GetAtt': [logicalId(fn), 'Arn'] } },
        ],
      });
      const permissions = Object.values(resources).filter(
        (r) =>
          r.Type === 'AWS::Lambda::Permission' &&
          JSON.stringify(r.Properties.FunctionName).includes(logicalId(fn)),
      );
      expect(permissions).toHaveLength(1);
      expect(permissions[0]!.Properties).toMatchObject({
        Action: 'lambda:InvokeFunction',
        Principal: 'apigateway.amazonaws.com',
      });
      const source = JSON.stringify(permissions[0]!.Properties.SourceArn);
      expect(source).toContain(logicalId(stack.portalApi.api));
      expect(source).toContain(`/v1/${method.toUpperCase()}${path.replace(/\{[^}]+\}/g, '*')}`);
    }
  });

  it('logs access and errors and traces the stage', () => {
    const stage = Object.values(resources).find((r) => r.Type === 'AWS::ApiGateway::Stage')!.Properties;
    expect(stage).toMatchObject({
      StageName: 'v1',
      TracingEnabled: true,
      AccessLogSetting: {
        DestinationArn: expect.any(Object),
        Format: expect.stringContaining('$context.requestId'),
      },
      MethodSettings: [
        expect.objectContaining({
          HttpMethod: '*',
          ResourcePath: '/*',
          LoggingLevel: 'ERROR',
          DataTraceEnabled: false,
        }),
      ],
    });
  });

  it('gives the portal a managed policy to call exactly the API’s routes', () => {
    const policy = resources[logicalId(stack.portalApi.invokePolicy)]!.Properties.PolicyDocument as {
      Statement: Statement[];
    };
    expect(policy.Statement).toHaveLength(1);
    const [statement] = policy.Statement;
    expect(statement).toMatchObject({ Effect: 'Allow', Action: 'execute-api:Invoke' });
    const arns = list(statement!.Resource).map((r) => JSON.stringify(r));
    expect(arns).toHaveLength(API_FUNCTIONS.length);
    for (const arn of arns) expect(arn).toContain(`{"Ref":"${logicalId(stack.portalApi.api)}"}`);
    expect(arns.map((arn) => /\/v1\/([A-Z]+\/[^"]*)"/.exec(arn)![1]).sort()).toEqual(
      ['DELETE/labs/*', 'GET/labs', 'GET/labs/*', 'POST/classes', 'POST/labs', 'POST/labs/*/reset'].sort(),
    );
  });

  it.each(API_FUNCTIONS.map((fn) => fn.route))(
    '%s: its own role, exactly its grants, and the limits',
    (route) => {
      const role = resources[logicalId(stack.portalApi.roles.get(route)!)]!.Properties;
      expect(role.ManagedPolicyArns).toBeUndefined();
      const allowed = (role.Policies as { PolicyDocument: { Statement: Statement[] } }[])
        .flatMap((policy) => policy.PolicyDocument.Statement)
        .filter((st) => st.Effect === 'Allow');
      const actions = [...new Set(allowed.flatMap((st) => list(st.Action)))].sort();
      expect(actions).toEqual(
        [
          ...new Set([
            ...API_PERMISSIONS[route].flatMap((g) => g.actions),
            'logs:CreateLogStream',
            'logs:PutLogEvents',
          ]),
        ].sort(),
      );
      for (const statement of allowed.filter((st) => list(st.Action).includes('states:StartExecution'))) {
        expect(JSON.stringify(statement.Resource)).toMatch(
          /:stateMachine:\$\{AWS::StackName\}-(provision-lab|teardown-lab|reset-lab|provision-class)"/,
        );
      }
      const fn = resources[logicalId(stack.portalApi.functions.get(route)!)]!.Properties;
      expect((fn.Environment as { Variables: Record<string, unknown> }).Variables).toMatchObject({
        REGISTRY_TABLE: { Ref: logicalId(stack.registry.table) },
        MAX_LABS: '100',
        MAX_CLASS_SIZE: '30',
        DEFAULT_LAB_HOURS: '72',
        MAX_LAB_HOURS: '720',
      });
    },
  );
});

describe('with a lab registry', () => {
  it('tells every task where it is and lets it write only there', () => {
    const scope = new Stack(new CdkApp(), 'WithRegistry');
    const tableArn = 'arn:aws:dynamodb:us-east-1:123456789012:table/session-lab-registry';
    const eventBusArn = 'arn:aws:events:us-east-1:123456789012:event-bus/default';
    const tasks = new LabFunctions(scope, 'Tasks', {
      bundleDir: standInBundles(),
      registry: {
        tableName: 'session-lab-registry',
        tableArn,
        eventBusArn,
        streamArn: `${tableArn}/stream/2030-01-01T00:00:00.000`,
        deadLetterQueueArn: 'arn:aws:sqs:us-east-1:123456789012:dlq',
      },
    });
    const synthesized = Template.fromStack(scope).toJSON() as { Resources: Record<string, Resource> };
    for (const [name, fn] of tasks.functions) {
      const properties = synthesized.Resources[scope.getLogicalId(fn.node.defaultChild as never)]!.Properties;
      expect((properties.Environment as { Variables: Record<string, string> }).Variables).toMatchObject({
        REGISTRY_TABLE: 'session-lab-registry',
      });
      const role =
        synthesized.Resources[scope.getLogicalId(tasks.roles.get(name)!.node.defaultChild as never)]!;
      const statements = (
        role.Properties.Policies as { PolicyDocument: { Statement: Statement[] } }[]
      ).flatMap((policy) => policy.PolicyDocument.Statement);
      if (LAB_FUNCTIONS.find((spec) => spec.name === name)!.workflow === 'lifecycle') continue;
      expect(statements).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ Action: PROGRESS_ACTIONS.table[0], Resource: tableArn }),
          expect.objectContaining({ Action: PROGRESS_ACTIONS.bus[0], Resource: eventBusArn }),
        ]),
      );
    }
  });
});
