import { arn, iamArn } from '../arns.js';
import { requestTagContext, tagMap } from '../context-keys.js';
import { anyResource, modelAll } from '../model.js';
import type { AuthRequest, OperationInput, OperationModel, ServiceModel } from '../model.js';

/**
 * The lab registry and its plumbing: DynamoDB (prefix dynamodb, tables and their streams),
 * EventBridge (events) and Step Functions (states).
 */

const tableArn = (op: OperationInput, name: string) =>
  name.startsWith('arn:') ? name : arn('dynamodb', op.region, op.account, `table/${name}`);

function table(action: string): OperationModel {
  return (op) => {
    const base = tableArn(op, String(op.input.TableName ?? ''));
    const index = op.input.IndexName ? `${base}/index/${String(op.input.IndexName)}` : base;
    return [{ action, resource: index }];
  };
}

/** Batch calls name tables as keys of RequestItems. */
function batch(action: string): OperationModel {
  return (op) =>
    Object.keys((op.input.RequestItems ?? {}) as Record<string, unknown>).map((name) => ({
      action,
      resource: tableArn(op, name),
    }));
}

/** Transactions: each item's operation on its table (TransactWriteItems: Put/Update/Delete/ConditionCheck). */
function transaction(read: boolean): OperationModel {
  const actions: Record<string, string> = read
    ? { Get: 'dynamodb:GetItem' }
    : {
        Put: 'dynamodb:PutItem',
        Update: 'dynamodb:UpdateItem',
        Delete: 'dynamodb:DeleteItem',
        ConditionCheck: 'dynamodb:ConditionCheckItem',
      };
  return (op) => {
    const requests: AuthRequest[] = [];
    for (const item of (op.input.TransactItems ?? []) as Record<string, { TableName?: string }>[]) {
      for (const [kind, body] of Object.entries(item)) {
        const action = actions[kind];
        if (action) requests.push({ action, resource: tableArn(op, String(body.TableName ?? '')) });
      }
    }
    return requests;
  };
}

const stream =
  (action: string): OperationModel =>
  (op) => [{ action, resource: String(op.input.StreamArn ?? '') }];

const TABLE_ACTIONS = [
  'GetItem',
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'Query',
  'Scan',
  'DescribeTable',
  'DeleteTable',
  'UpdateTable',
  'DescribeTimeToLive',
  'UpdateTimeToLive',
  'DescribeContinuousBackups',
  'UpdateContinuousBackups',
];

export const dynamodb: ServiceModel = {
  ...modelAll(TABLE_ACTIONS, (op) => table(`dynamodb:${op}`)),
  CreateTable: (op) => [
    {
      action: 'dynamodb:CreateTable',
      resource: tableArn(op, String(op.input.TableName ?? '')),
      context: requestTagContext(tagMap(op.input.Tags)),
    },
  ],
  BatchGetItem: batch('dynamodb:BatchGetItem'),
  BatchWriteItem: batch('dynamodb:BatchWriteItem'),
  TransactGetItems: transaction(true),
  TransactWriteItems: transaction(false),
  ListTables: anyResource('dynamodb:ListTables'),
  // DynamoDB Streams signs as dynamodb too.
  ListStreams: anyResource('dynamodb:ListStreams'),
  DescribeStream: stream('dynamodb:DescribeStream'),
  GetRecords: stream('dynamodb:GetRecords'),
  GetShardIterator: stream('dynamodb:GetShardIterator'),
  ListTagsOfResource: (op) => [
    { action: 'dynamodb:ListTagsOfResource', resource: String(op.input.ResourceArn ?? '') },
  ],
  TagResource: (op) => [
    {
      action: 'dynamodb:TagResource',
      resource: String(op.input.ResourceArn ?? ''),
      context: requestTagContext(tagMap(op.input.Tags)),
    },
  ],
};

const busArn = (op: OperationInput, name: unknown) => {
  const bus = typeof name === 'string' && name ? name : 'default';
  return bus.startsWith('arn:') ? bus : arn('events', op.region, op.account, `event-bus/${bus}`);
};

const ruleArn = (op: OperationInput) => {
  const bus = typeof op.input.EventBusName === 'string' ? op.input.EventBusName : 'default';
  const name = String(op.input.Name ?? op.input.Rule ?? '');
  return arn('events', op.region, op.account, bus === 'default' ? `rule/${name}` : `rule/${bus}/${name}`);
};

export const events: ServiceModel = {
  /** Each entry on its bus (the default bus when none is named). */
  PutEvents: (op) => {
    const buses = new Set(
      ((op.input.Entries ?? []) as { EventBusName?: string }[]).map((e) => busArn(op, e.EventBusName)),
    );
    return [...buses].map((resource) => ({ action: 'events:PutEvents', resource }));
  },
  DescribeEventBus: (op) => [{ action: 'events:DescribeEventBus', resource: busArn(op, op.input.Name) }],
  CreateEventBus: (op) => [
    {
      action: 'events:CreateEventBus',
      resource: busArn(op, op.input.Name),
      context: requestTagContext(tagMap(op.input.Tags)),
    },
  ],
  PutRule: (op) => [
    { action: 'events:PutRule', resource: ruleArn(op), context: requestTagContext(tagMap(op.input.Tags)) },
  ],
  DescribeRule: (op) => [{ action: 'events:DescribeRule', resource: ruleArn(op) }],
  DeleteRule: (op) => [{ action: 'events:DeleteRule', resource: ruleArn(op) }],
  PutTargets: (op) => [{ action: 'events:PutTargets', resource: ruleArn(op) }],
  RemoveTargets: (op) => [{ action: 'events:RemoveTargets', resource: ruleArn(op) }],
  ListRules: anyResource('events:ListRules'),
  ListEventBuses: anyResource('events:ListEventBuses'),
};

/** `arn:…:execution:<machine>:<name>` belongs to `arn:…:stateMachine:<machine>`. */
const machineOfExecution = (executionArn: string) =>
  executionArn.replace(':execution:', ':stateMachine:').replace(/:[^:]+$/, '');

export const states: ServiceModel = {
  StartExecution: (op) => [
    { action: 'states:StartExecution', resource: String(op.input.stateMachineArn ?? '') },
  ],
  StartSyncExecution: (op) => [
    { action: 'states:StartSyncExecution', resource: String(op.input.stateMachineArn ?? '') },
  ],
  DescribeStateMachine: (op) => [
    { action: 'states:DescribeStateMachine', resource: String(op.input.stateMachineArn ?? '') },
  ],
  ListExecutions: (op) => [
    { action: 'states:ListExecutions', resource: String(op.input.stateMachineArn ?? '') },
  ],
  DeleteStateMachine: (op) => [
    { action: 'states:DeleteStateMachine', resource: String(op.input.stateMachineArn ?? '') },
  ],
  UpdateStateMachine: (op) => [
    { action: 'states:UpdateStateMachine', resource: String(op.input.stateMachineArn ?? '') },
  ],
  DescribeExecution: (op) => [
    { action: 'states:DescribeExecution', resource: String(op.input.executionArn ?? '') },
  ],
  StopExecution: (op) => [{ action: 'states:StopExecution', resource: String(op.input.executionArn ?? '') }],
  GetExecutionHistory: (op) => [
    { action: 'states:GetExecutionHistory', resource: String(op.input.executionArn ?? '') },
  ],
  DescribeStateMachineForExecution: (op) => [
    {
      action: 'states:DescribeStateMachineForExecution',
      resource: machineOfExecution(String(op.input.executionArn ?? '')),
    },
  ],
  /** A new state machine: its ARN, and its role passed to Step Functions. */
  CreateStateMachine: (op) => {
    const requests: AuthRequest[] = [
      {
        action: 'states:CreateStateMachine',
        resource: arn('states', op.region, op.account, `stateMachine:${String(op.input.name ?? '')}`),
        context: requestTagContext(tagMap(op.input.tags)),
      },
    ];
    const role = op.input.roleArn ? String(op.input.roleArn) : undefined;
    if (role)
      requests.push({
        action: 'iam:PassRole',
        resource: role.startsWith('arn:') ? role : iamArn(op.account, `role/${role}`),
        context: { 'iam:PassedToService': 'states.amazonaws.com' },
        existing: { kind: 'iam-role', name: role.slice(role.lastIndexOf('/') + 1) },
      });
    return requests;
  },
  ListStateMachines: anyResource('states:ListStateMachines'),
  SendTaskSuccess: anyResource('states:SendTaskSuccess'),
  SendTaskFailure: anyResource('states:SendTaskFailure'),
  SendTaskHeartbeat: anyResource('states:SendTaskHeartbeat'),
};
