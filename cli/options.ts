// Every command's registration imports this module: it must stay light (commander only). Checks
// that need a schema are in lab-flags.ts, loaded by the actions.
import { Option, type Command } from 'commander';
import type { StateMachineName } from '../local/runner/definitions.js';
import type { TargetOptions } from './target.js';

/** `logGroupName` -> `--log-group-name`: how a schema field is spelled on the command line. */
export const flagOf = (field: string) => `--${field.replace(/([A-Z])/g, '-$1').toLowerCase()}`;

/** A CLI input error: names the flag, exits 2 (usage), creates nothing. */
export class FlagError extends Error {
  constructor(
    readonly flag: string,
    message: string,
  ) {
    super(`${flag}: ${message}`);
    this.name = 'FlagError';
  }
}

const integer = (flag: string) => (value: string) => {
  if (!/^-?\d+$/.test(value)) throw new FlagError(flag, `must be a whole number, got "${value}"`);
  return Number(value);
};

export function addLabIdOption(command: Command): Command {
  return command.option('--lab-id <id>', 'the lab id: lowercase letters, digits, hyphens, 3..32', 'demo');
}

export function addProvisionOptions(command: Command): Command {
  return command
    .addOption(new Option('--policy-mode <mode>', "the workshop user's policy").choices(['strict', 'seed']))
    .option('--instance-type <type>', 'EC2 instance type of the lab hosts (default t3.micro)')
    .option('--log-group-name <name>', 'CloudWatch Logs group for session logs (default SSM-Logs)')
    .option(
      '--log-retention-days <days>',
      'retention of the session log group (default 30)',
      integer('--log-retention-days'),
    )
    .option('--owner <owner>', 'who the lab is for');
}

export function addTargetOptions(command: Command): Command {
  return command
    .option(
      '--state-machine-arn <arn>',
      'run on AWS: the deployed state machine of this command (else runs locally against the emulator)',
    )
    .option('--time-scale <scale>', 'local runs: real seconds per simulated second', Number)
    .option('--json', 'print the result as JSON only');
}

export function targetOptionsFrom(
  name: StateMachineName,
  flags: { stateMachineArn?: string; timeScale?: number },
): TargetOptions {
  const arn = flags.stateMachineArn ?? process.env[`SESSION_LAB_${name.toUpperCase().replace('-', '_')}_ARN`];
  if (arn && !/^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[\w-]{1,80}$/.test(arn)) {
    throw new FlagError('--state-machine-arn', 'must be a Step Functions state machine ARN');
  }
  if (flags.timeScale !== undefined && !(flags.timeScale > 0 && flags.timeScale <= 1)) {
    throw new FlagError('--time-scale', 'must be a number in (0, 1]');
  }
  return { stateMachineArns: arn ? { [name]: arn } : undefined, timeScale: flags.timeScale };
}

/** A new execution name per run: Step Functions names cannot be reused for 90 days. */
export function executionName(labId: string, action: string): string {
  const stamp = new Date()
    .toISOString()
    .replace(/[-:.TZ]/g, '')
    .slice(0, 14);
  return `${labId}-${action}-${stamp}-${Math.random().toString(36).slice(2, 6)}`;
}
