import type { Command } from 'commander';
import { isErrorNamed } from '../../functions/shared/errors.js';
import { LAB_STATUSES } from '../../functions/shared/registry/lab-record.js';
import type { LabRecord } from '../../functions/shared/registry/lab-record.js';
import { FlagError } from '../options.js';

const column = (text: string, width: number) => text.padEnd(width).slice(0, width);

/** The labs as a table: id, status, generation, current step, owner, expiry. */
export function formatLabs(labs: LabRecord[]): string {
  if (labs.length === 0) return 'no labs';
  const lines = [
    `${column('LAB', 32)} ${column('STATUS', 12)} ${column('GEN', 4)} ${column('STEP', 28)} ${column('OWNER', 20)} EXPIRES`,
  ];
  for (const lab of labs) {
    lines.push(
      `${column(lab.labId, 32)} ${column(lab.status, 12)} ${column(String(lab.generation), 4)} ` +
        `${column(lab.currentStep ?? '', 28)} ${column(lab.owner ?? '', 20)} ` +
        new Date(lab.expiresAt * 1000).toISOString(),
    );
  }
  return lines.join('\n');
}

/**
 * `session-lab list`: the labs in the registry (REGISTRY_TABLE, or the table `serve` creates) at
 * AWS_ENDPOINT_URL or in the account the SDK's credentials reach. Starts no emulator: a fresh one
 * would be empty.
 */
export function registerListCommand(program: Command, exit: (code: number) => void): void {
  program
    .command('list')
    .description('list the labs in the registry: status, generation, current step, owner, expiry')
    .option('--status <status>', `only labs in this status (${LAB_STATUSES.join(', ')})`)
    .option('--json', 'print the labs as JSON only')
    .action(async (flags: { status?: string; json?: boolean }) => {
      if (flags.status !== undefined && !(LAB_STATUSES as readonly string[]).includes(flags.status))
        throw new FlagError('--status', `must be one of ${LAB_STATUSES.join(', ')}`);
      // The DynamoDB clients: loaded only by this command, once its flags are known good.
      const [{ LabRecords }, { RegistryTable, documentClient }, { LOCAL_REGISTRY_TABLE }] = await Promise.all(
        [
          import('../../functions/shared/registry/lab-records.js'),
          import('../../functions/shared/registry/table.js'),
          import('../../local/serve/registry-table.js'),
        ],
      );
      process.env.AWS_REGION ??= 'us-east-1';
      const table = process.env.REGISTRY_TABLE ?? LOCAL_REGISTRY_TABLE;
      const records = new LabRecords(new RegistryTable(documentClient(), table));
      const labs: LabRecord[] = [];
      try {
        let startKey: Record<string, unknown> | undefined;
        do {
          const page = await records.listLabs(
            { status: flags.status as LabRecord['status'] | undefined },
            { limit: 100, startKey },
          );
          labs.push(...page.labs);
          startKey = page.nextKey;
        } while (startKey);
      } catch (err) {
        if (!isErrorNamed(err, 'ResourceNotFoundException')) throw err;
        console.error(
          `error: no registry table ${table} at ${process.env.AWS_ENDPOINT_URL ?? 'AWS'}; ` +
            'start `session-lab serve` (or set REGISTRY_TABLE)',
        );
        exit(1);
        return;
      }
      labs.sort((a, b) => a.labId.localeCompare(b.labId));
      console.log(flags.json ? JSON.stringify(labs, null, 2) : formatLabs(labs));
      exit(0);
    });
}
