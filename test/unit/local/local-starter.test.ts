import { LocalWorkflowStarter, type LocalRunOutcome } from '../../../local/serve/local-starter.js';
import type { WorkflowOutcome } from '../../../functions/record-lab-status/task.js';

/** A run the test ends by hand. */
function controllableRun() {
  const pending = new Map<string, (outcome: LocalRunOutcome) => void>();
  const calls: string[] = [];
  const run = (_name: string, _input: unknown, executionName: string) =>
    new Promise<LocalRunOutcome>((resolve) => {
      calls.push(executionName);
      pending.set(executionName, resolve);
    });
  return { run, pending, calls };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('LocalWorkflowStarter', () => {
  it('runs each start in the background and reports every outcome, as the status-change rule does', async () => {
    const { run, pending } = controllableRun();
    const settled: WorkflowOutcome[] = [];
    const starter = new LocalWorkflowStarter(run, { onSettled: async (o) => void settled.push(o) });
    const outcome = starter.execute('provision-lab', { labId: 'demo' }, 'run-1');
    await flush();
    expect(starter.list()[0]!.status).toBe('RUNNING');
    pending.get('run-1')!({ status: 'SUCCEEDED', output: { ok: true } });
    await expect(outcome).resolves.toEqual({ status: 'SUCCEEDED', output: { ok: true } });
    expect(settled).toEqual([
      {
        workflow: 'provision-lab',
        executionName: 'run-1',
        input: { labId: 'demo' },
        status: 'SUCCEEDED',
        output: { ok: true },
      },
    ]);
  });

  it('runs at most maxConcurrent at once; the rest wait their turn', async () => {
    const { run, pending, calls } = controllableRun();
    const starter = new LocalWorkflowStarter(run, { maxConcurrent: 2 });
    for (const name of ['a', 'b', 'c']) void starter.execute('provision-lab', {}, name);
    await flush();
    expect(calls).toEqual(['a', 'b']);
    pending.get('a')!({ status: 'SUCCEEDED' });
    await flush();
    await flush();
    expect(calls).toEqual(['a', 'b', 'c']);
    pending.get('b')!({ status: 'SUCCEEDED' });
    pending.get('c')!({ status: 'FAILED', error: 'X' });
    await starter.idle();
    expect(starter.list().map((e) => e.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'FAILED']);
  });

  it('reports a run that throws as FAILED with the error name', async () => {
    const settled: WorkflowOutcome[] = [];
    const starter = new LocalWorkflowStarter(
      async () => {
        throw Object.assign(new Error('no emulator'), { name: 'ECONNREFUSED' });
      },
      { onSettled: async (o) => void settled.push(o) },
    );
    void starter.execute('reset-lab', { labId: 'demo' }, 'r-1');
    await starter.idle();
    expect(settled[0]).toMatchObject({ status: 'FAILED', error: 'ECONNREFUSED', cause: 'no emulator' });
  });

  it('after close, neither starts queued runs nor records outcomes', async () => {
    const { run, pending, calls } = controllableRun();
    const settled: WorkflowOutcome[] = [];
    const starter = new LocalWorkflowStarter(run, {
      maxConcurrent: 1,
      onSettled: async (o) => void settled.push(o),
    });
    void starter.execute('provision-lab', {}, 'a');
    const queued = starter.execute('provision-lab', {}, 'b');
    await flush();
    starter.close();
    pending.get('a')!({ status: 'SUCCEEDED' });
    await starter.idle();
    expect(calls).toEqual(['a']);
    expect(settled).toEqual([]);
    await expect(queued).resolves.toMatchObject({ status: 'FAILED', error: 'Abandoned' });
  });
});
