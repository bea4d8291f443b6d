import { ArnFormat, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { DefinitionBody, LogLevel, StateMachine, StateMachineType } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { definitionPath, placeholdersOf } from '../asl.js';
import {
  LAB_FUNCTIONS,
  STATE_MACHINES,
  functionArnPlaceholder,
  pascalCase,
  stateMachineArnPlaceholder,
  type LabFunctionName,
  type StateMachineName,
} from '../functions.js';

export interface LabWorkflowsProps {
  functions: ReadonlyMap<LabFunctionName, IFunction>;
  logRetention?: RetentionDays;
}

/** The rule Step Functions manages to learn when a `.sync` child execution ends. */
const SYNC_EVENTS_RULE = 'StepFunctionsGetEventsForStepFunctionsExecutionRule';

/**
 * The workflows from state-machine/*.asl.json, deployed unchanged: every `${...}` placeholder
 * filled by a definition substitution (a function ARN, or for reset-lab and provision-class a child
 * state machine ARN), Standard type, execution logging without execution data, X-Ray tracing.
 * Each state machine may invoke exactly the functions its file names, and start exactly the
 * children it names.
 */
export class LabWorkflows extends Construct {
  readonly stateMachines = new Map<StateMachineName, StateMachine>();
  /** The fixed names, `<stack>-<file name>` (the StateMachine's own name is a token). */
  readonly names = new Map<StateMachineName, string>();

  constructor(scope: Construct, id: string, props: LabWorkflowsProps) {
    super(scope, id);
    // Children first (STATE_MACHINES' order): reset-lab and provision-class need provision-lab's ARN.
    for (const name of STATE_MACHINES) this.stateMachines.set(name, this.workflow(name, props));
  }

  private workflow(name: StateMachineName, props: LabWorkflowsProps): StateMachine {
    const id = pascalCase(name);
    const substitutions: Record<string, string> = {};
    const invoked: IFunction[] = [];
    const children: StateMachineName[] = [];
    for (const placeholder of placeholdersOf(name)) {
      const fnSpec = LAB_FUNCTIONS.find((spec) => functionArnPlaceholder(spec.name) === placeholder);
      const child = STATE_MACHINES.find((machine) => stateMachineArnPlaceholder(machine) === placeholder);
      if (fnSpec) {
        const fn = props.functions.get(fnSpec.name);
        if (!fn) throw new Error(`${name}: no function deployed for \${${placeholder}}`);
        substitutions[placeholder] = fn.functionArn;
        invoked.push(fn);
      } else if (child && this.stateMachines.has(child)) {
        substitutions[placeholder] = this.stateMachines.get(child)!.stateMachineArn;
        children.push(child);
      } else {
        throw new Error(
          `state-machine/${name}.asl.json: placeholder \${${placeholder}} names no function in infra/functions.ts ` +
            'and no state machine deployed before it',
        );
      }
    }

    const stateMachineName = `${Stack.of(this).stackName}-${name}`;
    this.names.set(name, stateMachineName);
    const logGroup = new LogGroup(this, `${id}Logs`, {
      // Step Functions vended logs go to a group under /aws/vendedlogs/, which keeps the CloudWatch
      // Logs resource policy small.
      logGroupName: `/aws/vendedlogs/states/${stateMachineName}`,
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const machine = new StateMachine(this, id, {
      // A fixed name: the CLI and the console find "<stack>-provision-lab", and child executions
      // can be allowed by name.
      stateMachineName,
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromFile(definitionPath(name)),
      definitionSubstitutions: substitutions,
      // Each file's own TimeoutSeconds bounds its executions (a file definition takes no other).
      tracingEnabled: true,
      logs: { destination: logGroup, level: LogLevel.ALL, includeExecutionData: false },
      comment: `session-lab ${name}`,
    });

    // Only the unqualified ARNs the definition names: no versions or aliases, so no wildcard.
    if (invoked.length > 0) {
      machine.addToRolePolicy(
        new PolicyStatement({
          actions: ['lambda:InvokeFunction'],
          resources: invoked.map((fn) => fn.functionArn),
        }),
      );
    }
    if (children.length > 0) this.allowChildExecutions(machine, children);
    Validations.of(machine.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Added by CDK for X-Ray tracing (xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules, ' +
        'GetSamplingTargets) and execution logging (logs:CreateLogDelivery and the other vended log ' +
        'delivery actions): neither supports resource-level permissions.',
    });
    return machine;
  }

  /** What `states:startExecution.sync:2` needs: start, watch and stop the children, and the events rule. */
  private allowChildExecutions(machine: StateMachine, children: StateMachineName[]): void {
    const stack = Stack.of(this);
    machine.addToRolePolicy(
      new PolicyStatement({
        actions: ['states:StartExecution'],
        resources: children.map((child) => this.stateMachines.get(child)!.stateMachineArn),
      }),
    );
    const childNames = children.map((child) => this.names.get(child)!);
    const executions = childNames.map((childName) =>
      stack.formatArn({
        service: 'states',
        resource: 'execution',
        resourceName: `${childName}:*`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    );
    machine.addToRolePolicy(
      new PolicyStatement({
        actions: ['states:DescribeExecution', 'states:StopExecution'],
        resources: executions,
      }),
    );
    for (const childName of childNames) {
      Validations.of(machine.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:${childName}:*]`,
        reason: `Child execution names are chosen per run ("<reset execution>-teardown|provision", a class lab's recorded name); only ${childName}'s executions.`,
      });
    }
    machine.addToRolePolicy(
      new PolicyStatement({
        actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
        resources: [stack.formatArn({ service: 'events', resource: 'rule', resourceName: SYNC_EVENTS_RULE })],
      }),
    );
  }
}
