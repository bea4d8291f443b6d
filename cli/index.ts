import { Command } from 'commander';

/** The `session-lab` command line. Each subcommand lives in its own module under cli/commands/. */
export function buildProgram(): Command {
  const program = new Command('session-lab')
    .description('Provision, verify, reset and tear down AWS Systems Manager Session Manager labs')
    .version('0.1.0');
  return program;
}

await buildProgram().parseAsync(process.argv);
