import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  HOST_SCRIPT_HEADER,
  activeHostScripts,
  busyHostScripts,
  execOnHost,
  hostScriptWaiting,
} from '../../../local/emulator/services/host-exec.js';

/**
 * A host script's `aws` names its script on each request, so that the emulator can tell the
 * script waits on it (a call's modelled latency) rather than works: the bench's virtual clock
 * jumps over such a wait (bench.ts's busy probe is busyHostScripts), where it used to wait for the
 * script for ever while the script waited for the clock.
 */
it("counts a script as waiting while its aws call is held in the emulator's latency", async () => {
  const seen: { header: unknown; busy: number; active: number; busyWhileWaiting?: number }[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const header = req.headers[HOST_SCRIPT_HEADER];
      const entry: (typeof seen)[number] = { header, busy: busyHostScripts(), active: activeHostScripts() };
      seen.push(entry);
      void hostScriptWaiting(String(header), async () => {
        entry.busyWhileWaiting = busyHostScripts();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }).then(() => {
        res.writeHead(200, { 'content-type': 'text/xml' });
        res.end(
          '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>' +
            '<Arn>arn:aws:iam::123456789012:user/x</Arn><UserId>AIDAX</UserId><Account>123456789012</Account>' +
            '</GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>',
        );
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const result = await execOnHost({
      emulatorUrl: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      hostInstanceId: 'i-0123456789abcdef0',
      script: [
        'export AWS_ACCESS_KEY_ID=AKIAEXAMPLE AWS_SECRET_ACCESS_KEY=secret',
        'aws sts get-caller-identity --query Account --output text',
        'aws sts get-caller-identity --query Account --output text',
      ].join('\n'),
      timeoutMs: 60_000,
    });
    expect(result).toMatchObject({ exitCode: 0, stdout: '123456789012\n123456789012\n', stderr: '' });
    expect(seen).toHaveLength(2);
    const [first, second] = seen;
    expect(first!.header).toMatch(/^[0-9a-f-]{36}$/);
    expect(second!.header).toBe(first!.header);
    // Working while its call is on its way; waiting while the call is held.
    expect(seen.map(({ busy, active, busyWhileWaiting }) => ({ busy, active, busyWhileWaiting }))).toEqual([
      { busy: 1, active: 1, busyWhileWaiting: 0 },
      { busy: 1, active: 1, busyWhileWaiting: 0 },
    ]);
    expect(activeHostScripts()).toBe(0);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
