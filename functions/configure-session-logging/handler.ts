import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { IAMClient } from '@aws-sdk/client-iam';
import { SSMClient } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import { clientsFor } from '../shared/clients.js';
import { labHandler } from '../shared/handler.js';
import { configureSessionLogging, inputSchema } from './task.js';

export const handler = labHandler(inputSchema, (input) =>
  configureSessionLogging(
    input,
    clientsFor({ iam: IAMClient, logs: CloudWatchLogsClient, ssm: SSMClient, sts: STSClient }),
  ),
);
