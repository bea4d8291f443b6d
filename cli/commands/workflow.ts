import type { Command } from 'commander';
import type { StateMachineName } from '../../local/runner/definitions.js';
import {
  addLabIdOption,
  addProvisionOptions,
  addTargetOptions,
  executionName,
  targetOptionsFrom,
} from '../options.js';
import { ProgressList } from '../progress.js';
import { formatReport } from '../report.js';
import type { TargetOptions } from '../target.js';

interface WorkflowFlags {
  labId: string;
  json?: boolean;
  stateMachineArn?: string;
  timeScale?: number;
  [option: string]: unknown;
}

/**
 * Runs one workflow end to end for a person: validates flags first (nothing created on bad input),
 * shows the live step list, then prints the report (or JSON alone with --json); exit code 1 on a
 * failed execution with the failed step and reason.
 */
export async function runWorkflow(
  name: StateMachineName,
  input: unknown,
  labId: string,
  flags: WorkflowFlags,
  target: TargetOptions,
): Promise<number> {
  // The runner, the emulator, the tasks and the SDK: loaded only once the flags are known good.
  const { openTarget } = await import('../target.js');
  const session = await openTarget(target);
  try {
    if (!flags.json) console.error(`${name} ${labId} on the ${session.describe}`);
    const progress = new ProgressList();
    const result = await session.run(name, input, {
      executionName: executionName(labId, name.replace('-lab', '')),
      onEvent: flags.json ? undefined : progress.onEvent,
    });
    if (result.status === 'FAILED') {
      const message = `${name} failed: ${result.error ?? 'error'}: ${result.cause ?? ''}`.trim();
      if (flags.json)
        console.log(JSON.stringify({ status: 'FAILED', error: result.error, cause: result.cause }, null, 2));
      console.error(message);
      return 1;
    }
    const output = result.output as Record<string, unknown> | undefined;
    if (flags.json) console.log(JSON.stringify(output ?? {}, null, 2));
    else if (output && 'accessMatrix' in output) console.log(formatReport(output));
    else console.log(`${name} ${labId}: done`);
    return 0;
  } finally {
    await session.close();
  }
}

export function registerWorkflowCommands(program: Command, exit: (code: number) => void): void {
  const provision = addTargetOptions(
    addProvisionOptions(addLabIdOption(program.command('provision'))),
  ).description('provision and verify a lab, printing its report');
  provision.action(async (flags: WorkflowFlags) => {
    const { provisionInput } = await import('../lab-flags.js');
    const input = provisionInput(flags);
    exit(
      await runWorkflow(
        'provision-lab',
        input,
        input.labId,
        flags,
        targetOptionsFrom('provision-lab', flags),
      ),
    );
  });

  const teardown = addTargetOptions(addLabIdOption(program.command('teardown'))).description(
    'remove everything the lab created (shared settings are released, not deleted)',
  );
  teardown.action(async (flags: WorkflowFlags) => {
    const { checkLabId } = await import('../lab-flags.js');
    const labId = checkLabId(flags.labId);
    exit(
      await runWorkflow('teardown-lab', { labId }, labId, flags, targetOptionsFrom('teardown-lab', flags)),
    );
  });

  const reset = addTargetOptions(addProvisionOptions(addLabIdOption(program.command('reset')))).description(
    'tear a lab down and provision it again as a new generation',
  );
  reset.action(async (flags: WorkflowFlags) => {
    const { provisionInput } = await import('../lab-flags.js');
    const input = provisionInput(flags);
    exit(await runWorkflow('reset-lab', input, input.labId, flags, targetOptionsFrom('reset-lab', flags)));
  });
}
