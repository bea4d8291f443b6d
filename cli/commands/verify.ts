import type { Command } from 'commander';
import { FlagError, addLabIdOption } from '../options.js';
import { formatReport } from '../report.js';

/** `session-lab verify`: checks an existing lab now and prints its report; exit 1 when not as expected. */
export function registerVerifyCommand(program: Command, exit: (code: number) => void): void {
  addLabIdOption(program.command('verify'))
    .description('check an existing lab now: nodes Online, the access matrix, the logging preferences')
    .option('--policy-mode <mode>', 'the policy mode the lab was provisioned with', 'strict')
    .option('--json', 'print the report as JSON only')
    .action(async (flags: { labId: string; policyMode: string; json?: boolean }) => {
      const { checkLabId } = await import('../lab-flags.js');
      const labId = checkLabId(flags.labId);
      if (flags.policyMode !== 'strict' && flags.policyMode !== 'seed') {
        throw new FlagError('--policy-mode', 'must be strict or seed');
      }
      // The SDK and the verify task: loaded only by this command, once its flags are known good.
      const [{ labClients }, { verifyLab }, { discoverVerifyInput }] = await Promise.all([
        import('../../functions/shared/clients.js'),
        import('../../functions/verify-lab/task.js'),
        import('../verify-input.js'),
      ]);
      // Reads the account the SDK's credentials reach, or the emulator at AWS_ENDPOINT_URL.
      process.env.AWS_REGION ??= 'us-east-1';
      const clients = labClients();
      const report = await verifyLab(
        await discoverVerifyInput(clients, labId, flags.policyMode),
        clients,
      ).catch((err: Error) => {
        console.error(`verify ${labId} failed: ${err.name}: ${err.message}`);
        return undefined;
      });
      if (!report) return exit(1);
      console.log(
        flags.json
          ? JSON.stringify(report, null, 2)
          : formatReport(report as unknown as Record<string, unknown>),
      );
      exit(report.ok ? 0 : 1);
    });
}
