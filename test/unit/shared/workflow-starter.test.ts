import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import {
  SfnWorkflowStarter,
  classExecutionName,
  newExecutionName,
  sfnStarterFromEnv,
} from '../../../functions/shared/workflow-starter.js';
import { runIdSchema } from '../../../functions/shared/lab-config.js';
import { awsError, inputsOf } from '../../helpers/aws-mock.js';

const sfn = mockClient(SFNClient);
const PROVISION = 'arn:aws:states:us-east-1:123456789012:stateMachine:session-lab-provision-lab';

beforeEach(() => sfn.reset());

describe('SfnWorkflowStarter', () => {
  const starter = () =>
    new SfnWorkflowStarter(new SFNClient({ region: 'us-east-1' }), {
      PROVISION_LAB_STATE_MACHINE_ARN: PROVISION,
    });

  it('starts the state machine under the given name with the input as JSON', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:exec:1' });
    await expect(starter().start('provision-lab', { labId: 'demo' }, 'demo-g1-provision-x')).resolves.toEqual(
      {
        executionId: 'arn:exec:1',
      },
    );
    expect(inputsOf(sfn, StartExecutionCommand)).toEqual([
      { stateMachineArn: PROVISION, name: 'demo-g1-provision-x', input: '{"labId":"demo"}' },
    ]);
  });

  it('treats a name already used (its own earlier start) as started', async () => {
    sfn.on(StartExecutionCommand).rejects(awsError('ExecutionAlreadyExists'));
    await expect(starter().start('provision-lab', {}, 'n1')).resolves.toEqual({
      executionId: 'arn:aws:states:us-east-1:123456789012:execution:session-lab-provision-lab:n1',
    });
  });

  it('propagates other errors, and names the variable of a state machine it was not given', async () => {
    sfn.on(StartExecutionCommand).rejects(awsError('ExecutionLimitExceeded'));
    await expect(starter().start('provision-lab', {}, 'n1')).rejects.toMatchObject({
      name: 'ExecutionLimitExceeded',
    });
    await expect(starter().start('reset-lab', {}, 'n1')).rejects.toMatchObject({
      name: 'ConfigurationError',
      variable: 'RESET_LAB_STATE_MACHINE_ARN',
    });
    await expect(starter().start('provision-class', {}, 'n1')).rejects.toMatchObject({
      name: 'ConfigurationError',
      variable: 'PROVISION_CLASS_STATE_MACHINE_ARN',
    });
  });

  it('validates the ARNs from the environment', () => {
    expect(() => sfnStarterFromEnv(new SFNClient({}), { TEARDOWN_LAB_STATE_MACHINE_ARN: 'nope' })).toThrow(
      /^TEARDOWN_LAB_STATE_MACHINE_ARN: /,
    );
  });
});

describe('newExecutionName', () => {
  it('is unique per call, a valid execution name, and leaves room for reset-lab’s children', () => {
    const labId = 'a'.repeat(32);
    const names = new Set(Array.from({ length: 50 }, () => newExecutionName(labId, 9999, 'provision-lab')));
    expect(names.size).toBe(50);
    for (const name of names) {
      expect(runIdSchema.safeParse(`${name}-provision`).success).toBe(true);
      expect(name.length).toBeLessThanOrEqual(70);
    }
    expect(newExecutionName('demo', 2, 'reset-lab', new Date('2030-01-02T03:04:05Z'))).toMatch(
      /^demo-g2-reset-20300102030405-[0-9a-f]{6}$/,
    );
  });
});

describe('classExecutionName', () => {
  const labs = [
    { labId: 'c-01', executionName: 'c-01-g1-provision-20300101000000-ab12' },
    { labId: 'c-02', executionName: 'c-02-g1-provision-20300101000000-cd34' },
  ];

  it('is the same for the same labs in any order (a replay starts nothing new), another for other labs', () => {
    const name = classExecutionName('c', labs);
    expect(name).toMatch(/^c-class-[0-9a-f]{16}$/);
    expect(classExecutionName('c', [...labs].reverse())).toBe(name);
    expect(classExecutionName('c', labs.slice(0, 1))).not.toBe(name);
    expect(runIdSchema.safeParse(classExecutionName('x'.repeat(28), labs)).success).toBe(true);
  });
});
