import type { Command } from 'commander';
import { startEmulator } from '../../local/emulator/index.js';
import { FlagError } from '../options.js';

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 65535)
    throw new FlagError('--port', `must be 1..65535, got "${value}"`);
  return n;
}

/**
 * `session-lab emulator start [--port N]`: the local AWS (moto plus the session-lab layer) served
 * until Ctrl-C or SIGTERM, which stop moto too, so no child process outlives the command.
 */
export function registerEmulatorCommand(program: Command, exit: (code: number) => void): void {
  const emulator = program.command('emulator').description('the local AWS emulator the product runs against');
  emulator
    .command('start')
    .description('start moto and the session-lab endpoint in front of it; serve until Ctrl-C')
    .option('--port <port>', 'port of the endpoint (default: a free one)', port)
    .action(async (flags: { port?: number }) => {
      const running = await startEmulator({ port: flags.port });
      console.log(`session-lab emulator listening on ${running.url}`);
      console.log('Point the AWS SDK and CLI at it with:');
      console.log(
        `  export AWS_ENDPOINT_URL=${running.url} AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing`,
      );
      console.log('Ctrl-C stops it.');
      const signal = await new Promise<NodeJS.Signals>((resolve) => {
        process.once('SIGINT', () => resolve('SIGINT'));
        process.once('SIGTERM', () => resolve('SIGTERM'));
      });
      console.log(`${signal}: stopping the emulator and moto`);
      await running.stop();
      exit(0);
    });
}
