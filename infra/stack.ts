import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { LabFunctions } from './constructs/lab-functions.js';
import { LabWorkflows } from './constructs/lab-workflows.js';
import { pascalCase } from './functions.js';

export interface SessionLabStackProps extends StackProps {
  /** Where `npm run build` put the Lambda bundles (dist/functions). */
  bundleDir: string;
}

/** session-lab: the lab tasks and the provision, teardown and reset workflows. The stack only composes. */
export class SessionLabStack extends Stack {
  readonly labFunctions: LabFunctions;
  readonly workflows: LabWorkflows;

  constructor(scope: Construct, id: string, props: SessionLabStackProps) {
    super(scope, id, props);
    this.labFunctions = new LabFunctions(this, 'Tasks', { bundleDir: props.bundleDir });
    this.workflows = new LabWorkflows(this, 'Workflows', { functions: this.labFunctions.functions });

    for (const [name, machine] of this.workflows.stateMachines) {
      new CfnOutput(this, `${pascalCase(name)}StateMachineArn`, {
        value: machine.stateMachineArn,
        description: `Start a ${name} execution here (input: { "labId": "demo" })`,
      });
    }
  }
}
