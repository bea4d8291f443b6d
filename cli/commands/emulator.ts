import type { Command } from 'commander';
import type * as Faults from '../../local/emulator/faults.js';
import type { FaultOptions } from '../../local/emulator/faults.js';
import { FlagError } from '../options.js';

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 65535)
    throw new FlagError('--port', `must be 1..65535, got "${value}"`);
  return n;
}

function faults(parseFaultOptions: typeof Faults.parseFaultOptions, value: string): FaultOptions {
  try {
    return parseFaultOptions(value, '--faults');
  } catch (err) {
    throw new FlagError('--faults', (err as Error).message.replace(/^--faults: /, ''));
  }
}

/**
 * `session-lab emulator start [--port N]`: the local AWS (moto plus the session-lab layer) served
 * until Ctrl-C or SIGTERM, which stop moto too, so no child process outlives the command.
 */
export function registerEmulatorCommand(program: Command, exit: (code: number) => void): void {
  const emulator = program.command('emulator').description('the local AWS emulator the product runs against');
  // faults.ts brings the emulator's services and SDK clients with it, so it is loaded only when
  // `start` is dispatched: still before its flags are parsed, so a bad --faults is reported by the
  // parser, in its order among the flags, as before.
  let faultsModule: typeof Faults | undefined;
  const start = emulator
    .command('start')
    .description('start moto and the session-lab endpoint in front of it; serve until Ctrl-C')
    .option('--port <port>', 'port of the endpoint (default: a free one)', port)
    .option(
      '--faults <json>',
      'faults to inject, e.g. \'{"throttle":0.1,"serverError":0.02,"iamPropagationSeconds":15,"seed":7}\' (default: $SESSION_LAB_FAULTS)',
      (value: string) => faults(faultsModule!.parseFaultOptions, value),
    )
    .action(async (flags: { port?: number; faults?: FaultOptions }) => {
      let fromEnv: FaultOptions | undefined;
      try {
        fromEnv = faultsModule!.faultOptionsFromEnv();
      } catch (err) {
        throw new FlagError(
          'SESSION_LAB_FAULTS',
          (err as Error).message.replace(/^SESSION_LAB_FAULTS: /, ''),
        );
      }
      const injected = flags.faults ?? fromEnv;
      const { startEmulator } = await import('../../local/emulator/index.js');
      const running = await startEmulator({ port: flags.port, faults: injected });
      // Step Functions as deployed: the local deployment's state machines, run here when a client
      // (`session-lab serve`'s routes, a portal, the AWS CLI) calls StartExecution.
      const region = process.env.AWS_REGION ?? 'us-east-1';
      const [{ lambdaServiceFor, stopLambdaServices }, { runLocally }, { hostWorkflows }] = await Promise.all(
        [
          import('../../local/runner/lambda-service.js'),
          import('../../local/runner/runner.js'),
          import('../../local/serve/workflow-host.js'),
        ],
      );
      const lambdaService = await lambdaServiceFor(running.url, region);
      const timeScale = running.clock.profile.scale;
      const workflows = await hostWorkflows({
        emulator: running,
        lambda: lambdaService,
        region,
        run: (name, input, executionName) =>
          runLocally(name, { input, executionName, region, timeScale, lambdaService }),
        log: (line) => console.error(line),
      });
      console.log(`session-lab emulator listening on ${running.url}`);
      console.log(
        `runs the state machines of the local deployment: ${[...lambdaService.stack.stateMachines.values()].map((m) => m.arn).join(', ')}`,
      );
      if (injected) console.log(`injecting faults: ${JSON.stringify(running.faults.options)}`);
      console.log('Point the AWS SDK and CLI at it with:');
      console.log(
        `  export AWS_ENDPOINT_URL=${running.url} AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing`,
      );
      console.log('Ctrl-C stops it.');
      const signal = await new Promise<NodeJS.Signals>((resolve) => {
        process.once('SIGINT', () => resolve('SIGINT'));
        process.once('SIGTERM', () => resolve('SIGTERM'));
      });
      if (injected) console.log(`faults: ${JSON.stringify(running.faults.snapshot())}`);
      console.log(`${signal}: stopping the emulator and moto`);
      workflows.close();
      await stopLambdaServices(running.url);
      await running.stop();
      exit(0);
    });
  // Runs before `start` parses its flags (or prints its help); parseAsync awaits it.
  emulator.hook('preSubcommand', async (_emulator, dispatched) => {
    if (dispatched === start) faultsModule = await import('../../local/emulator/faults.js');
  });
}
