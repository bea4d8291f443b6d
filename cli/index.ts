import { Command, CommanderError } from 'commander';
import { registerDemoCommand } from './commands/demo.js';
import { registerEmulatorCommand } from './commands/emulator.js';
import { registerListCommand } from './commands/list.js';
import { registerServeCommand } from './commands/serve.js';
import { registerStatusCommand } from './commands/status.js';
import { registerVerifyCommand } from './commands/verify.js';
import { registerWorkflowCommands } from './commands/workflow.js';
import { FlagError } from './options.js';

/** The `session-lab` command line; each command is registered from its own module. */
export function buildProgram(exit: (code: number) => void = (code) => (process.exitCode = code)): Command {
  const program = new Command('session-lab')
    .description('Provision, verify, reset and tear down AWS Systems Manager Session Manager labs')
    .version('0.1.0')
    .showHelpAfterError()
    // Usage errors are thrown to main (and inherited by every command registered below).
    .exitOverride();
  registerWorkflowCommands(program, exit);
  registerStatusCommand(program, exit);
  registerVerifyCommand(program, exit);
  registerDemoCommand(program, exit);
  registerEmulatorCommand(program, exit);
  registerServeCommand(program, exit);
  registerListCommand(program, exit);
  return program;
}

/** commander's codes for a command line that is wrong (as opposed to help, version or a failure). */
const USAGE_ERRORS = new Set([
  'commander.unknownOption',
  'commander.unknownCommand',
  'commander.invalidArgument',
  'commander.missingArgument',
  'commander.optionMissingArgument',
  'commander.missingMandatoryOptionValue',
  'commander.excessArguments',
  'commander.conflictingOption',
]);

/** Runs the CLI: usage errors exit 2 naming the flag, failures exit 1. */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof FlagError) {
      console.error(`error: ${err.message}`);
      process.exitCode = 2;
    } else if (err instanceof CommanderError) {
      // commander has printed the error (naming the option) and the usage; a usage error exits 2.
      process.exitCode = USAGE_ERRORS.has(err.code) ? 2 : err.exitCode;
    } else {
      console.error(`error: ${(err as Error).message}`);
      process.exitCode = 1;
    }
  }
}
