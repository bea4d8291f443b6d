import { LOCAL_STACK_NAME } from '../deployment/artifacts.js';
import type { StateMachineName } from './definitions.js';
import type { LambdaService } from './lambda-service.js';

/** A Task's service integration its state machine's role does not allow, as Step Functions fails it. */
class IntegrationDenied extends Error {
  constructor(name: string, service: string, message: string) {
    super(`${message} (Service: ${service}, Status Code: 403, Error Code: AccessDeniedException)`);
    this.name = name;
  }
}

const STEP_FUNCTIONS_DENIED = 'StepFunctions.AWSStepFunctionsException';

/**
 * Step Functions calls a service with the state machine's role: a denial fails the Task. `checks`
 * is false when the run's tasks do not go through the local Lambda service (fakes, in-process
 * sources): there is then no deployed role to check.
 */
export class StateMachineRole {
  private readonly machineName: string;

  constructor(
    name: StateMachineName,
    private readonly region: string,
    private readonly checks: boolean,
    private readonly lambdaService: () => Promise<LambdaService>,
  ) {
    this.machineName = `${LOCAL_STACK_NAME}-${name}`;
  }

  private async authorize(action: string, resourceArn: string, errorName: string, serviceName: string) {
    if (!this.checks) return;
    const decision = await (await this.lambdaService()).authorize(this.machineName, action, resourceArn);
    if (!decision.allowed) throw new IntegrationDenied(errorName, serviceName, decision.message);
  }

  /** `lambda:invoke` of `functionArn`. */
  mayInvoke(functionArn: string): Promise<void> {
    return this.authorize('lambda:InvokeFunction', functionArn, 'Lambda.AWSLambdaException', 'Lambda');
  }

  /** `startExecution.sync` of the child workflow `child` as execution `name`. */
  async mayRunChild(child: StateMachineName, stateMachineArn: unknown, name: unknown): Promise<void> {
    if (!this.checks) return;
    const { stack } = await this.lambdaService();
    const childArn = stack.stateMachines.get(`${LOCAL_STACK_NAME}-${child}`)?.arn ?? String(stateMachineArn);
    await this.authorize('states:StartExecution', childArn, STEP_FUNCTIONS_DENIED, 'AWSStepFunctions');
    // `.sync` follows the child through a managed EventBridge rule and DescribeExecution.
    const rule = `arn:aws:events:${this.region}:${stack.accountId}:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule`;
    for (const action of ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'])
      await this.authorize(action, rule, STEP_FUNCTIONS_DENIED, 'AWSStepFunctions');
    const childExecution = `${childArn.replace(':stateMachine:', ':execution:')}:${String(name ?? '')}`;
    await this.authorize(
      'states:DescribeExecution',
      childExecution,
      STEP_FUNCTIONS_DENIED,
      'AWSStepFunctions',
    );
  }
}
