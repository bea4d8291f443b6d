import { Duration, Stack } from 'aws-cdk-lib';
import { Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction as LambdaTarget } from 'aws-cdk-lib/aws-events-targets';
import { PolicyDocument, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import {
  EventSourceMapping,
  FilterCriteria,
  FilterRule,
  StartingPosition,
  type IEventSourceDlq,
  type IFunction,
} from 'aws-cdk-lib/aws-lambda';
import { CfnSchedule } from 'aws-cdk-lib/aws-scheduler';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';

/** The nightly reset when the deployment does not say (03:00 UTC). */
export const DEFAULT_RESET_SCHEDULE = 'cron(0 3 * * ? *)';
/** How often expired labs are looked for. */
export const DEFAULT_EXPIRY_SCHEDULE = 'rate(15 minutes)';

/** An EventBridge Scheduler expression: `cron(...)` (six fields), `rate(N unit)` or `at(...)`. */
export function checkScheduleExpression(name: string, expression: string): string {
  const cron = /^cron\(\S+( \S+){5}\)$/;
  const rate = /^rate\([1-9]\d* (minute|minutes|hour|hours|day|days)\)$/;
  const at = /^at\(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\)$/;
  if (![cron, rate, at].some((pattern) => pattern.test(expression))) {
    throw new Error(
      `${name}: "${expression}" is not an EventBridge Scheduler expression (cron(m h dom mon dow y), rate(N minutes|hours|days) or at(yyyy-mm-ddThh:mm:ss))`,
    );
  }
  return expression;
}

export interface LabLifecycleProps {
  recordLabStatus: IFunction;
  resetDueLabs: IFunction;
  /** The lab workflows whose execution status changes are recorded (provision, teardown, reset). */
  workflows: IStateMachine[];
  registryStreamArn: string;
  deadLetterQueue: IQueue;
  /** The nightly reset's schedule expression; DEFAULT_RESET_SCHEDULE when absent. */
  resetSchedule?: string;
  /** The expiry sweep's schedule expression; DEFAULT_EXPIRY_SCHEDULE when absent. */
  expirySchedule?: string;
}

/** The stream mapping's on-failure destination, granted in permissions.ts rather than by CDK. */
const queueDestination = (queue: IQueue): IEventSourceDlq => ({
  bind: () => ({ destination: queue.queueArn }),
});

/**
 * What keeps the lab registry in step with the account without anyone asking:
 * - an EventBridge rule on the lab workflows' "Step Functions Execution Status Change" events
 *   targeting record-lab-status (a safety net for executions a Catch cannot record: aborted, timed
 *   out);
 * - two EventBridge Scheduler schedules targeting reset-due-labs: the nightly reset (expression
 *   set at deploy time) and a frequent expiry-only sweep (`{"reset": false}`), through a role that
 *   may only invoke that function and send to the dead-letter queue, with a retry policy;
 * - the registry stream's TTL removals (filtered to REMOVE by the DynamoDB service) to
 *   reset-due-labs, which tears down a live lab whose record expired before the sweep saw it.
 */
export class LabLifecycle extends Construct {
  readonly statusRule: Rule;
  readonly schedules: { reset: CfnSchedule; expiry: CfnSchedule };
  readonly schedulerRole: Role;
  readonly streamMapping: EventSourceMapping;

  constructor(scope: Construct, id: string, props: LabLifecycleProps) {
    super(scope, id);
    const stack = Stack.of(this);

    this.statusRule = new Rule(this, 'ExecutionStatusChanges', {
      description: 'session-lab: records the end of every lab workflow execution in the lab registry',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: {
          stateMachineArn: props.workflows.map((machine) => machine.stateMachineArn),
          status: ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'],
        },
      },
      targets: [
        new LambdaTarget(props.recordLabStatus, {
          retryAttempts: 8,
          maxEventAge: Duration.hours(6),
          deadLetterQueue: props.deadLetterQueue,
        }),
      ],
    });

    this.schedulerRole = new Role(this, 'SchedulerRole', {
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
      description: 'session-lab schedules: invoke reset-due-labs, nothing else',
      inlinePolicies: {
        'invoke-reset-due-labs': new PolicyDocument({
          statements: [
            new PolicyStatement({
              actions: ['lambda:InvokeFunction'],
              resources: [props.resetDueLabs.functionArn],
            }),
            new PolicyStatement({
              actions: ['sqs:SendMessage'],
              resources: [props.deadLetterQueue.queueArn],
            }),
          ],
        }),
      },
    });
    const schedule = (name: string, expression: string, input: unknown, description: string) =>
      new CfnSchedule(this, name, {
        description,
        scheduleExpression: expression,
        scheduleExpressionTimezone: 'UTC',
        flexibleTimeWindow: { mode: 'OFF' },
        state: 'ENABLED',
        target: {
          arn: props.resetDueLabs.functionArn,
          roleArn: this.schedulerRole.roleArn,
          input: JSON.stringify(input),
          retryPolicy: { maximumRetryAttempts: 5, maximumEventAgeInSeconds: 3600 },
          deadLetterConfig: { arn: props.deadLetterQueue.queueArn },
        },
      });
    this.schedules = {
      reset: schedule(
        'NightlyReset',
        checkScheduleExpression('resetSchedule', props.resetSchedule ?? DEFAULT_RESET_SCHEDULE),
        { expire: true, reset: true },
        'session-lab: resets every lab due for its nightly reset and tears down expired labs',
      ),
      expiry: schedule(
        'ExpirySweep',
        checkScheduleExpression('expirySchedule', props.expirySchedule ?? DEFAULT_EXPIRY_SCHEDULE),
        { reset: false },
        'session-lab: tears down labs past their expiry, so forgotten labs stop costing money',
      ),
    };

    this.streamMapping = new EventSourceMapping(this, 'TtlRemovals', {
      target: props.resetDueLabs,
      eventSourceArn: props.registryStreamArn,
      startingPosition: StartingPosition.TRIM_HORIZON,
      batchSize: 10,
      bisectBatchOnError: true,
      retryAttempts: 5,
      maxRecordAge: Duration.days(1),
      onFailure: queueDestination(props.deadLetterQueue),
      // Only the TTL's own deletions (the DynamoDB service's REMOVE records).
      filters: [
        FilterCriteria.filter({
          eventName: FilterRule.isEqual('REMOVE'),
          userIdentity: {
            type: FilterRule.isEqual('Service'),
            principalId: FilterRule.isEqual('dynamodb.amazonaws.com'),
          },
        }),
      ],
    });
  }
}
