import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  IAMClient,
  PutUserPolicyCommand,
} from '@aws-sdk/client-iam';
import {
  DescribeExecutionCommand,
  ListExecutionsCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import type { ExecutionOutcome, StartedExecution } from '../../../local/emulator/index.js';
import { emulatorClientConfig, TEST_REGION, useEmulator } from '../../helpers/emulator.js';

/**
 * The emulator's Step Functions executions (local/emulator/services/step-functions.ts): started by
 * StartExecution with its validation and idempotency, run by an executor given from outside (here
 * a stand-in the test ends by hand), read back with DescribeExecution and ListExecutions, and
 * authorized for the caller like every other request.
 */

jest.setTimeout(60_000);

const ACCOUNT = '123456789012';
const MACHINE = `arn:aws:states:${TEST_REGION}:${ACCOUNT}:stateMachine:SessionLab-provision-lab`;
const executionArn = (name: string) =>
  `arn:aws:states:${TEST_REGION}:${ACCOUNT}:execution:SessionLab-provision-lab:${name}`;

describe('Step Functions executions', () => {
  const emulator = useEmulator();
  const sfn = () => new SFNClient(emulatorClientConfig(emulator()));
  const started: StartedExecution[] = [];
  const finish = new Map<string, (outcome: ExecutionOutcome) => void>();

  beforeAll(() => {
    emulator().setExecutor({
      runs: (arn) => arn === MACHINE,
      run: (execution) =>
        new Promise((resolve) => {
          started.push(execution);
          finish.set(execution.name, resolve);
        }),
    });
  });
  afterAll(() => emulator().setExecutor(undefined));

  const start = (name: string, input: unknown, stateMachineArn = MACHINE) =>
    sfn().send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }));

  it('starts once: the same name and input while running answer the first start', async () => {
    const first = await start('lab-1', { labId: 'lab-1' });
    expect(first.executionArn).toBe(executionArn('lab-1'));
    const again = await start('lab-1', { labId: 'lab-1' });
    expect([again.executionArn, again.startDate]).toEqual([first.executionArn, first.startDate]);
    expect(started.map((e) => [e.name, e.input])).toEqual([['lab-1', { labId: 'lab-1' }]]);
    await expect(
      sfn().send(new DescribeExecutionCommand({ executionArn: first.executionArn })),
    ).resolves.toMatchObject({ status: 'RUNNING', name: 'lab-1', input: '{"labId":"lab-1"}' });
  });

  it('refuses the name with another input, and once the execution has closed', async () => {
    await expect(start('lab-1', { labId: 'other' })).rejects.toMatchObject({
      name: 'ExecutionAlreadyExists',
      $metadata: { httpStatusCode: 400 },
    });
    finish.get('lab-1')!({ status: 'SUCCEEDED', output: { ok: true } });
    await new Promise((resolve) => setImmediate(resolve));
    const described = await sfn().send(new DescribeExecutionCommand({ executionArn: executionArn('lab-1') }));
    expect(described).toMatchObject({ status: 'SUCCEEDED', output: '{"ok":true}' });
    expect(described.stopDate).toBeInstanceOf(Date);
    await expect(start('lab-1', { labId: 'lab-1' })).rejects.toMatchObject({
      name: 'ExecutionAlreadyExists',
    });
    expect(started).toHaveLength(1);
  });

  it('lists the executions of a state machine newest first, filtered by status', async () => {
    await start('lab-2', { labId: 'lab-2' });
    const all = await sfn().send(new ListExecutionsCommand({ stateMachineArn: MACHINE }));
    expect(all.executions?.map((e) => [e.name, e.status])).toEqual([
      ['lab-2', 'RUNNING'],
      ['lab-1', 'SUCCEEDED'],
    ]);
    const running = await sfn().send(
      new ListExecutionsCommand({ stateMachineArn: MACHINE, statusFilter: 'RUNNING' }),
    );
    expect(running.executions?.map((e) => e.name)).toEqual(['lab-2']);
    const paged = await sfn().send(new ListExecutionsCommand({ stateMachineArn: MACHINE, maxResults: 1 }));
    expect([paged.executions?.length, typeof paged.nextToken]).toEqual([1, 'string']);
    finish.get('lab-2')!({ status: 'FAILED', error: 'LabStepFailed', cause: 'stand-in' });
  });

  it('refuses a state machine it does not run, a bad name and input that is not JSON', async () => {
    const unknown = MACHINE.replace('provision-lab', 'nothing');
    await expect(start('lab-3', {}, unknown)).rejects.toMatchObject({
      name: 'StateMachineDoesNotExist',
      message: expect.stringContaining(unknown),
    });
    await expect(start('has space', {})).rejects.toMatchObject({ name: 'InvalidName' });
    await expect(start('x'.repeat(81), {})).rejects.toMatchObject({ name: 'InvalidName' });
    await expect(
      sfn().send(new StartExecutionCommand({ stateMachineArn: MACHINE, name: 'lab-4', input: '{not json' })),
    ).rejects.toMatchObject({ name: 'InvalidExecutionInput' });
    await expect(
      sfn().send(new DescribeExecutionCommand({ executionArn: executionArn('never') })),
    ).rejects.toMatchObject({ name: 'ExecutionDoesNotExist' });
  });

  it('answers StartExecution with a clear error when no executor is registered', async () => {
    emulator().setExecutor(undefined);
    try {
      await expect(start('lab-5', {})).rejects.toMatchObject({
        name: 'StateMachineDoesNotExist',
        message: expect.stringContaining('nothing registered an executor'),
      });
    } finally {
      emulator().setExecutor({ runs: (arn) => arn === MACHINE, run: async () => ({ status: 'SUCCEEDED' }) });
    }
  });

  it('authorizes StartExecution for the caller against the state machine', async () => {
    const iam = new IAMClient(emulatorClientConfig(emulator()));
    await iam.send(new CreateUserCommand({ UserName: 'reader' }));
    await iam.send(
      new PutUserPolicyCommand({
        UserName: 'reader',
        PolicyName: 'describe-only',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 'states:DescribeExecution', Resource: '*' }],
        }),
      }),
    );
    const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: 'reader' }));
    const reader = new SFNClient({
      ...emulatorClientConfig(emulator()),
      credentials: { accessKeyId: AccessKey!.AccessKeyId!, secretAccessKey: AccessKey!.SecretAccessKey! },
    });
    const refused = reader.send(
      new StartExecutionCommand({ stateMachineArn: MACHINE, name: 'lab-6', input: '{}' }),
    );
    await expect(refused).rejects.toMatchObject({
      name: 'AccessDeniedException',
      message: expect.stringMatching(
        new RegExp(`user/reader is not authorized to perform: states:StartExecution on resource: ${MACHINE}`),
      ),
    });
    // What it is granted it may do.
    await expect(
      reader.send(new DescribeExecutionCommand({ executionArn: executionArn('lab-1') })),
    ).resolves.toMatchObject({ status: 'SUCCEEDED' });
  });
});
