import type { Command } from 'commander';
import { FlagError } from '../options.js';

const port = (value: string) => {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535)
    throw new FlagError('--port', `must be a port number from 0 to 65535, got "${value}"`);
  return Number(value);
};

/**
 * `session-lab serve`: the training-portal API on http://127.0.0.1:<port> (no SigV4 locally), each
 * route answered by its deployed bundle, the workflows they start run by the local runner, against
 * an emulator it starts. Ctrl-C stops the server, the workflows in flight and the emulator.
 */
export function registerServeCommand(program: Command, exit: (code: number) => void): void {
  program
    .command('serve')
    .description('serve the training-portal API locally (127.0.0.1) against the emulator')
    .option('--port <port>', 'port to listen on (0: a free one)', port, 8080)
    .option('--time-scale <scale>', 'real seconds per simulated second', Number)
    .option('--max-concurrent <n>', 'workflows run at once; more wait their turn', Number, 3)
    .action(async (flags: { port: number; timeScale?: number; maxConcurrent: number }) => {
      if (flags.timeScale !== undefined && !(flags.timeScale > 0 && flags.timeScale <= 1))
        throw new FlagError('--time-scale', 'must be a number in (0, 1]');
      if (!Number.isInteger(flags.maxConcurrent) || flags.maxConcurrent < 1)
        throw new FlagError('--max-concurrent', 'must be a positive whole number');
      // The server, the runner and the emulator: loaded only by this command, once its flags are good.
      const [{ startServing }, { openTarget }] = await Promise.all([
        import('../../local/serve/serve.js'),
        import('../target.js'),
      ]);
      const target = await openTarget({ timeScale: flags.timeScale });
      let serving;
      try {
        // An emulator started here hands the executions StartExecution starts to this process's
        // runner; one at AWS_ENDPOINT_URL (`session-lab emulator start`) runs them itself.
        serving = await startServing({
          emulator: target.emulator,
          port: flags.port,
          maxConcurrent: flags.maxConcurrent,
          run: (name, input, executionName) => target.run(name, input, { executionName }),
          log: (line) => console.error(line),
        });
      } catch (err) {
        await target.close();
        throw err;
      }
      console.log(`session-lab API on ${serving.url} (${target.describe}); Ctrl-C stops`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      console.error('stopping');
      const inFlight = (serving.starter?.list() ?? []).filter(
        (e) => e.status === 'RUNNING' || e.status === 'QUEUED',
      );
      await serving.stop();
      await target.close();
      exit(0);
      // Workflows cut off by the stop may still hold timers and retries against the gone emulator:
      // they end with the process, not the other way round.
      if (inFlight.length) {
        console.error(
          `${inFlight.length} workflow(s) abandoned: ${inFlight.map((e) => e.executionName).join(', ')}`,
        );
        setTimeout(() => process.exit(0), 1000).unref();
      }
    });
}
