import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { SendCommandCommand } from '@aws-sdk/client-ssm';
import { startEmulator } from '../../../local/emulator/index.js';
import { waitFor } from '../../../local/emulator/net.js';
import {
  fleetClients,
  instanceProfile,
  launch,
  securityGroup,
  SSM_CORE,
  waitForPing,
} from '../../helpers/fleet.js';

/** The machine's processes (Linux /proc) and their command lines, to prove nothing outlives stop(). */
function processes(): { pid: string; cmd: string }[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map((pid) => {
      try {
        return { pid, cmd: readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ') };
      } catch {
        return { pid, cmd: '' };
      }
    });
}
const processCommandLines = () => processes().map((p) => p.cmd);

describe('emulator: lifecycle', () => {
  it('leaves no moto process, port or host script behind after stop()', async () => {
    const emulator = await startEmulator({
      time: { scale: 0.01, ec2BootSeconds: 5, invocationVisibleSeconds: 1 },
    });
    const motoPort = new URL(emulator.motoUrl).port;
    // A sleep no other process runs: its fractional seconds are unique to this run.
    const marker = `sleep 300.${process.pid}${Date.now() % 100000}`;
    let scratch: string | undefined;
    try {
      expect((await fetch(`${emulator.motoUrl}/moto-api/data.json`)).ok).toBe(true);
      expect(processCommandLines().some((cmd) => cmd.includes('moto.server') && cmd.includes(motoPort))).toBe(
        true,
      );
      // A Run Command script that would outlive the emulator if nothing stopped it.
      const { iam, ec2, ssm } = fleetClients(emulator);
      await instanceProfile(iam, 'Lifecycle', [SSM_CORE]);
      const node = (await launch(ec2, { profile: 'Lifecycle', groups: [await securityGroup(ec2, 'lc')] }))
        .InstanceId!;
      await waitForPing(ssm, node);
      await ssm.send(
        new SendCommandCommand({
          DocumentName: 'AWS-RunShellScript',
          InstanceIds: [node],
          Parameters: { commands: [marker] },
        }),
      );
      await waitFor(async () => processCommandLines().some((cmd) => cmd.includes(marker)), {
        timeoutMs: 5000,
        intervalMs: 20,
        what: 'the script to start',
      });
      const sleeper = processes().find((p) => p.cmd.includes(marker))!;
      scratch = readlinkSync(`/proc/${sleeper.pid}/cwd`);
      expect(scratch).toContain('session-lab-host-');
    } finally {
      await emulator.stop();
    }
    await expect(fetch(`${emulator.motoUrl}/moto-api/data.json`)).rejects.toThrow();
    await expect(fetch(`${emulator.url}/__emulator/none`, { method: 'POST' })).rejects.toThrow();
    const left = processCommandLines();
    expect(left.filter((cmd) => cmd.includes('moto.server') && cmd.includes(`-p ${motoPort}`))).toEqual([]);
    await waitFor(async () => !processCommandLines().some((cmd) => cmd.includes(marker)), {
      timeoutMs: 2000,
      intervalMs: 20,
      what: 'the host script to be gone',
    });
    await waitFor(async () => !existsSync(scratch!), {
      timeoutMs: 2000,
      intervalMs: 20,
      what: 'its scratch directory to go',
    });
  });
});
