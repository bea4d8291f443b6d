import { readSync } from 'node:fs';

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

/** POST /__emulator/<name> with a JSON body; resolves the JSON answer, rejects with ControlError. */
export async function control(name, body) {
  if (!emulatorUrl || !hostInstanceId) {
    throw new ControlError(
      'not running on a simulated host (SESSION_LAB_* variables missing)',
      'NoHost',
      500,
    );
  }
  const res = await fetch(`${emulatorUrl}/__emulator/${name}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ hostInstanceId, region: hostRegion, ...body }),
  });
  const text = await res.text();
  const json = text ? JSON.parse(text) : {};
  if (!res.ok) throw new ControlError(json.error ?? `HTTP ${res.status}`, json.code ?? 'Error', res.status);
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
