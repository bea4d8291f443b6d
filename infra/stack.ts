import { CfnOutput, Fn, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import { ManagedPolicy, PolicyDocument } from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { bootstrapBoundaryPolicy, type BoundaryScope } from '../functions/shared/bootstrap-boundary.js';
import { devHostBoundaryPolicy } from '../functions/shared/dev-host-boundary.js';
import { SHARED_NAMES } from '../functions/shared/names.js';
import { LabFunctions } from './constructs/lab-functions.js';
import { LabLifecycle } from './constructs/lab-lifecycle.js';
import { LabRegistry } from './constructs/lab-registry.js';
import { LabWorkflows } from './constructs/lab-workflows.js';
import { PortalApi, type ApiLimitsProps } from './constructs/portal-api.js';
import { STATE_MACHINES, pascalCase, type StateMachineName } from './functions.js';
import { stateMachineArn } from './permissions.js';

export interface SessionLabStackProps extends StackProps {
  /** Where `npm run build` put the Lambda bundles (dist/functions). */
  bundleDir: string;
  /** The nightly reset's EventBridge Scheduler expression (default `cron(0 3 * * ? *)`, UTC). */
  resetSchedule?: string;
  /** The expiry sweep's expression (default `rate(15 minutes)`). */
  expirySchedule?: string;
  /** Whether the last lab to release the advanced tier and the preferences reverts them (default false). */
  revertSharedOnLastRelease?: boolean;
  /** Whether lab input may select `policyMode: "seed"` (default true; false refuses it as InvalidLabInput). */
  allowSeedPolicyMode?: boolean;
  /** The portal API's limits (class size, class concurrency, lab lifetimes). */
  apiLimits?: ApiLimitsProps;
}

/**
 * session-lab: the lab tasks, the provision, teardown, reset and class workflows, the lab registry
 * with its schedules, and the training-portal API. The stack only composes.
 */
export class SessionLabStack extends Stack {
  readonly registry: LabRegistry;
  readonly labFunctions: LabFunctions;
  readonly workflows: LabWorkflows;
  readonly lifecycle: LabLifecycle;
  readonly portalApi: PortalApi;
  readonly bootstrapBoundary: ManagedPolicy;
  readonly devHostBoundary: ManagedPolicy;

  constructor(scope: Construct, id: string, props: SessionLabStackProps) {
    super(scope, id, props);
    this.registry = new LabRegistry(this, 'Registry');
    this.bootstrapBoundary = bootstrapBoundary(this);
    this.devHostBoundary = devHostBoundary(this);
    const registry = this.registry.refs();
    // The workflows' ARNs from their fixed names: the functions that start them need no reference
    // to the state machines, which reference the functions.
    const machineArn = (name: StateMachineName) => Fn.sub(stateMachineArn(name));
    const allowSeedPolicyMode = String(props.allowSeedPolicyMode ?? true);
    this.labFunctions = new LabFunctions(this, 'Tasks', {
      bundleDir: props.bundleDir,
      registry,
      environment: {
        'validate-lab-input': { ALLOW_SEED_POLICY_MODE: allowSeedPolicyMode },
        'release-shared-resources': {
          REVERT_SHARED_ON_LAST_RELEASE: String(props.revertSharedOnLastRelease ?? false),
        },
        'reset-due-labs': {
          TEARDOWN_LAB_STATE_MACHINE_ARN: machineArn('teardown-lab'),
          RESET_LAB_STATE_MACHINE_ARN: machineArn('reset-lab'),
        },
      },
    });
    this.workflows = new LabWorkflows(this, 'Workflows', { functions: this.labFunctions.functions });
    const functions = this.labFunctions.functions;
    this.lifecycle = new LabLifecycle(this, 'Lifecycle', {
      recordLabStatus: functions.get('record-lab-status')!,
      resetDueLabs: functions.get('reset-due-labs')!,
      workflows: (['provision-lab', 'teardown-lab', 'reset-lab'] as const).map((name) =>
        this.workflows.stateMachines.get(name)!,
      ),
      registryStreamArn: registry.streamArn,
      deadLetterQueue: this.registry.deadLetterQueue,
      resetSchedule: props.resetSchedule,
      expirySchedule: props.expirySchedule,
    });
    this.portalApi = new PortalApi(this, 'Portal', {
      bundleDir: props.bundleDir,
      registry,
      stateMachineArns: {
        'provision-lab': machineArn('provision-lab'),
        'teardown-lab': machineArn('teardown-lab'),
        'reset-lab': machineArn('reset-lab'),
        'provision-class': machineArn('provision-class'),
      },
      limits: props.apiLimits,
      allowSeedPolicyMode: props.allowSeedPolicyMode,
    });

    for (const name of STATE_MACHINES) {
      new CfnOutput(this, `${pascalCase(name)}StateMachineArn`, {
        value: this.workflows.stateMachines.get(name)!.stateMachineArn,
        description:
          name === 'provision-class'
            ? 'Provisions the labs of a class (POST /classes starts it)'
            : `Start a ${name} execution here (input: { "labId": "demo" })`,
      });
    }
    new CfnOutput(this, 'PortalApiUrl', {
      value: this.portalApi.api.deploymentStage.urlForPath('/'),
      description: 'The training-portal API (IAM authorization: sign requests with SigV4)',
    });
    new CfnOutput(this, 'PortalInvokePolicyArn', {
      value: this.portalApi.invokePolicy.managedPolicyArn,
      description: 'Attach to the portal’s role: execute-api:Invoke on the API’s routes',
    });
    new CfnOutput(this, 'RegistryTableName', {
      value: registry.tableName,
      description: 'The lab registry (`session-lab list` with REGISTRY_TABLE set to it)',
    });
    new CfnOutput(this, 'ProgressEventBusName', {
      value: this.registry.eventBus.eventBusName,
      description: 'Subscribe to source session-lab, detail-type "Lab Step Changed" here',
    });
  }
}

/**
 * The permissions boundary of every lab's bootstrap role (functions/shared/bootstrap-boundary.ts),
 * under its fixed name: launch-instances builds its ARN from the name and may create and change
 * bootstrap roles only with it as their boundary (infra/permissions.ts). IAM names are
 * account-wide, so one deployment per account holds it.
 */
function bootstrapBoundary(stack: Stack): ManagedPolicy {
  const policy = boundaryPolicy(
    stack,
    'BootstrapBoundary',
    SHARED_NAMES.bootstrapBoundaryPolicy,
    'session-lab: the permissions boundary of each lab bootstrap role (SessionLabBootstrap-<labId>): lab parameters, decryption through SSM, the SSM agent',
    bootstrapBoundaryPolicy,
  );
  const acknowledge = (resource: string, reason: string) =>
    Validations.of(policy).acknowledge({ id: `AwsSolutions-IAM5[Resource::${resource}]`, reason });
  acknowledge(
    '*',
    'the SSM agent calls (UpdateInstanceInformation, associations, the ssmmessages and ec2messages channels) support no narrower resource than the node itself, whose id is assigned at launch; a boundary caps, it grants nothing',
  );
  acknowledge(
    'arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/session-lab/*',
    "the lab parameters of every lab (the bootstrap role's own inline guard narrows it to its own lab, whose id is known only at run time)",
  );
  acknowledge(
    'arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*',
    'decryption only through Systems Manager (kms:ViaService condition), of the SecureString parameters under the aws/ssm key, whose id differs per account',
  );
  return policy;
}

/**
 * The permissions boundary of every lab's Dev host roles (SessionLabDevHost-<labId>,
 * SessionLabDevNode-<labId>; functions/shared/dev-host-boundary.ts), under its fixed name:
 * launch-instances and create-activations build its ARN from the name and may create and change
 * those roles only with it as their boundary (infra/permissions.ts).
 */
function devHostBoundary(stack: Stack): ManagedPolicy {
  const policy = boundaryPolicy(
    stack,
    'DevHostBoundary',
    SHARED_NAMES.devHostBoundaryPolicy,
    'session-lab: the permissions boundary of each lab Dev host role (SessionLabDevHost-<labId>, SessionLabDevNode-<labId>): the SSM agent and its session logging',
    devHostBoundaryPolicy,
  );
  const acknowledge = (resource: string, reason: string) =>
    Validations.of(policy).acknowledge({ id: `AwsSolutions-IAM5[Resource::${resource}]`, reason });
  acknowledge(
    '*',
    "the calls of AmazonSSMManagedInstanceCore (the SSM agent's own, on the node itself, whose id is assigned at launch); a boundary caps, it grants nothing",
  );
  acknowledge(
    'arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:*',
    'DescribeLogGroups only, a list call authorized against no particular group (the agent looks the session log group up)',
  );
  acknowledge(
    'arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:SSM-Logs:*',
    "the streams of the seed's session log group (each role's own policy narrows it to its lab's sessions)",
  );
  acknowledge(
    'arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/session-lab/*',
    "the session log groups a lab may name, under /session-lab/ (each role's own policy narrows it to its lab's group and sessions)",
  );
  acknowledge(
    'arn:<AWS::Partition>:s3:::*',
    "the session log bucket is lab input; only buckets of the account (s3:ResourceAccount condition), each role's own policy names its lab's bucket and objects",
  );
  return policy;
}

/** A named customer managed policy from a document built with the stack's pseudo parameters. */
function boundaryPolicy(
  stack: Stack,
  id: string,
  managedPolicyName: string,
  description: string,
  build: (scope: BoundaryScope) => unknown,
): ManagedPolicy {
  // The pseudo parameters stay CloudFormation's: every string that names one is an Fn::Sub.
  const sub = (value: unknown): unknown =>
    typeof value === 'string'
      ? value.includes('${AWS::')
        ? Fn.sub(value)
        : value
      : Array.isArray(value)
        ? value.map(sub)
        : value && typeof value === 'object'
          ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, sub(v)]))
          : value;
  const document = build({
    partition: '${AWS::Partition}',
    region: '${AWS::Region}',
    accountId: '${AWS::AccountId}',
  });
  return new ManagedPolicy(stack, id, {
    managedPolicyName,
    description,
    document: PolicyDocument.fromJson(sub(document)),
  });
}
