import { readSync } from 'node:fs';
import { request } from 'node:http';

// Shared by the simulated host commands: who this host is and how to reach the emulator.

export const hostInstanceId = process.env.SESSION_LAB_HOST_INSTANCE_ID ?? '';
export const hostRegion = process.env.SESSION_LAB_HOST_REGION ?? 'us-east-1';
export const osUser = process.env.SESSION_LAB_OS_USER ?? 'root';
const emulatorUrl = process.env.SESSION_LAB_EMULATOR_URL ?? '';

/** An error answered by a control endpoint; `code` is the AWS-style error code. */
export class ControlError extends Error {
  constructor(message, code, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/**
 * POST /__emulator/<name> with a JSON body; resolves the JSON answer, rejects with ControlError.
 * node:http rather than fetch: fetch loads undici and compiles its WebAssembly HTTP parser, which
 * made a host command (a process of its own, hundreds per test run) cost 0.20 s of CPU instead of
 * 0.14 s (20 runs of each on this machine).
 */
export async function control(name, body) {
  if (!emulatorUrl || !hostInstanceId) {
    throw new ControlError(
      'not running on a simulated host (SESSION_LAB_* variables missing)',
      'NoHost',
      500,
    );
  }
  const payload = JSON.stringify({ hostInstanceId, region: hostRegion, ...body });
  const { status, text } = await new Promise((resolve, reject) => {
    const req = request(
      `${emulatorUrl}/__emulator/${name}`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 502, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
  const json = text ? JSON.parse(text) : {};
  if (status < 200 || status >= 300)
    throw new ControlError(json.error ?? `HTTP ${status}`, json.code ?? 'Error', status);
  return json;
}

/** Prints to stderr and exits with `code`. */
export function die(message, code) {
  process.stderr.write(message.endsWith('\n') ? message : `${message}\n`);
  process.exit(code);
}

/**
 * Reads one line from stdin a byte at a time, as Go's fmt.Scanln does on os.Stdin, so the rest of a
 * script piped into `bash -s` stays for bash. Returns undefined at end of input.
 */
export function readLine() {
  const byte = Buffer.alloc(1);
  const bytes = [];
  for (;;) {
    let n;
    try {
      n = readSync(0, byte, 0, 1, null);
    } catch (err) {
      if (err.code === 'EAGAIN') continue;
      if (err.code === 'EOF') n = 0;
      else throw err;
    }
    if (n === 0) return bytes.length ? Buffer.from(bytes).toString('utf8') : undefined;
    if (byte[0] === 0x0a) return Buffer.from(bytes).toString('utf8');
    bytes.push(byte[0]);
  }
}
