import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { AttributeType, BillingMode, StreamViewType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { REGISTRY_KEY, REGISTRY_TTL_ATTRIBUTE } from '../../functions/shared/registry/table.js';
import type { RegistryRefs } from './lab-functions.js';

/**
 * The lab registry (functions/shared/registry/): one DynamoDB table holding every lab and the
 * reference counts of the account-wide singletons (`pk` string key, on demand, TTL on `expiresAt`,
 * point-in-time recovery, a stream of old images so the TTL's removals reach reset-due-labs), the
 * event bus the tasks publish their progress on (`session-lab` / `Lab Step Changed`), and the
 * queue where the schedules, the status-change rule and the stream put what they could not
 * deliver.
 */
export class LabRegistry extends Construct {
  readonly table: Table;
  readonly eventBus: EventBus;
  readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.table = new Table(this, 'Table', {
      partitionKey: { name: REGISTRY_KEY, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: REGISTRY_TTL_ATTRIBUTE,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // REMOVE records of the TTL carry the lab as it was: reset-due-labs tears it down.
      stream: StreamViewType.OLD_IMAGE,
      encryption: TableEncryption.AWS_MANAGED,
      // The registry outlives the stack: labs it lists may still exist in the account.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.eventBus = new EventBus(this, 'ProgressBus', {
      eventBusName: `${Stack.of(this).stackName}-lab-progress`,
      description: 'session-lab: a Lab Step Changed event per step of every lab (source session-lab)',
    });
    this.deadLetterQueue = new Queue(this, 'DeadLetters', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter queue of the schedules, the status-change rule and the ' +
        'registry stream mapping (EventBridge and Lambda destinations, which cdk-nag cannot see); a ' +
        'dead-letter queue of a dead-letter queue would add nothing.',
    });
  }

  /** What the functions are told about the registry. */
  refs(): RegistryRefs {
    return {
      tableName: this.table.tableName,
      tableArn: this.table.tableArn,
      streamArn: this.table.tableStreamArn!,
      eventBusArn: this.eventBus.eventBusArn,
      deadLetterQueueArn: this.deadLetterQueue.queueArn,
    };
  }
}
