import { describe, expect, it } from '@jest/globals';
import {
  statusChangeSchema,
  statusChangeToStatus,
  workflowOfArn,
} from '../../../functions/record-lab-status/task.js';
import { boundedInput, statusChangeEvent } from '../../../local/serve/workflow-host.js';

const MACHINE = 'arn:aws:states:us-east-1:123456789012:stateMachine:SessionLab-provision-lab';

describe('session-lab serve', () => {
  it('provisions a class no wider than the workflows run at once, keeping the rest of its input', () => {
    const input = { classId: 'c', maxConcurrency: 10, labs: [] };
    expect(boundedInput('provision-class', input, 3)).toEqual({ ...input, maxConcurrency: 3 });
    expect(boundedInput('provision-class', { ...input, maxConcurrency: 2 }, 3)).toMatchObject({
      maxConcurrency: 2,
    });
    expect(boundedInput('provision-lab', { labId: 'x', maxConcurrency: 10 }, 3)).toEqual({
      labId: 'x',
      maxConcurrency: 10,
    });
  });

  it('reports a workflow’s end as the deployed status-change rule does, which record-lab-status reads', async () => {
    const event = statusChangeEvent(
      MACHINE,
      {
        workflow: 'provision-lab',
        executionName: 'lab-1-g1-provision-20260101000000-000001',
        input: { labId: 'lab-1' },
        status: 'FAILED',
        error: 'States.Timeout',
        cause: 'took too long',
      },
      'us-east-1',
    );
    expect(event).toMatchObject({
      source: 'aws.states',
      resources: [
        `${MACHINE.replace(':stateMachine:', ':execution:')}:lab-1-g1-provision-20260101000000-000001`,
      ],
      detail: { stateMachineArn: MACHINE, status: 'FAILED', input: '{"labId":"lab-1"}', output: null },
    });
    expect(statusChangeToStatus(statusChangeSchema.parse(event), workflowOfArn)).toMatchObject({
      labId: 'lab-1',
      status: 'failed',
      error: { error: 'States.Timeout', cause: 'took too long' },
    });
  });
});
