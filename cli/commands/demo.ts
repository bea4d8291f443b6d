import type { Command } from 'commander';
import { runWorkflow } from './workflow.js';

/**
 * `npm start`: a fresh local emulator, the lab `demo` provisioned and verified through the real
 * provision workflow, its report printed, the emulator stopped.
 */
export function registerDemoCommand(program: Command, exit: (code: number) => void): void {
  program
    .command('demo')
    .description('start the local AWS emulator, provision and verify the lab "demo", print its report, stop')
    .option('--json', 'print the report as JSON only')
    .action(async (flags: { json?: boolean }) => {
      // Always a fresh emulator, even when AWS_ENDPOINT_URL points at another one.
      delete process.env.AWS_ENDPOINT_URL;
      exit(
        await runWorkflow(
          'provision-lab',
          { labId: 'demo' },
          'demo',
          { labId: 'demo', json: flags.json },
          {},
        ),
      );
    });
}
