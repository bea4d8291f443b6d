import type { IncomingHttpHeaders } from 'node:http';

/**
 * What a web page in the operator's browser could send to a local server, refused: `session-lab
 * serve` and the emulator's control endpoints trust whoever reaches 127.0.0.1 and sign nothing,
 * so a page of any site could otherwise create labs or drive the emulator. Shared by both.
 * - `Host` must name this machine: a DNS-rebinding page reaches 127.0.0.1 under its own name.
 * - `Origin`, which browsers send on every cross-origin POST and DELETE, must be absent (curl, the
 *   CLI, scripts) or an origin the server accepts (`originAllowed`).
 * - A body must be JSON (`application/json`): the content types a page may post without a CORS
 *   preflight (forms, `text/plain`) are refused, and a preflight is never answered.
 */

/** Why a request was refused: the HTTP status, an error code and the header at fault. */
export interface CrossSiteRefusal {
  status: 403 | 415;
  code: 'CrossSiteRequest' | 'UnsupportedMediaType';
  field: 'Host' | 'Origin' | 'Content-Type';
  message: string;
}

/** The names a local server is reached by; anything else in `Host` is another site's name. */
const LOCAL_HOSTNAMES = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** The hostname of a `Host` header value (`[::1]:8080` -> `[::1]`). */
function hostnameOf(host: string): string {
  return host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0]!;
}

/** An http(s) origin of this machine; undefined for `null` (a sandboxed frame, a file) and other sites. */
function localOrigin(origin: string): URL | undefined {
  try {
    const url = new URL(origin);
    return (url.protocol === 'http:' || url.protocol === 'https:') && LOCAL_HOSTNAMES.has(url.hostname)
      ? url
      : undefined;
  } catch {
    return undefined;
  }
}

/** Only the server's own origin: a loopback name on `port` over http. */
export const ownOrigin =
  (port: number) =>
  (url: URL): boolean =>
    url.protocol === 'http:' && (url.port || '80') === String(port);

export interface CrossSiteOptions {
  /** Whether the request must carry a JSON content type (it has a body, or is a write). */
  jsonRequired: boolean;
  /** Which local origins may call (default: any, a local page of the operator's); another site's never may. */
  originAllowed?: (url: URL) => boolean;
  /** How the server is named in the Origin refusal. */
  originName?: string;
}

export function crossSiteRefusal(
  headers: IncomingHttpHeaders,
  { jsonRequired, originAllowed = () => true, originName = 'a localhost origin' }: CrossSiteOptions,
): CrossSiteRefusal | undefined {
  const host = headers.host;
  if (!host || !LOCAL_HOSTNAMES.has(hostnameOf(host.toLowerCase()))) {
    return {
      status: 403,
      code: 'CrossSiteRequest',
      field: 'Host',
      message: `Host: must be 127.0.0.1 or localhost, not ${host ?? 'absent'}`,
    };
  }
  const origin = headers.origin;
  if (origin !== undefined) {
    const url = localOrigin(origin);
    if (!url || !originAllowed(url)) {
      return {
        status: 403,
        code: 'CrossSiteRequest',
        field: 'Origin',
        message: `Origin: must be absent or ${originName}, not ${origin}`,
      };
    }
  }
  if (jsonRequired) {
    const type = (headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json') {
      return {
        status: 415,
        code: 'UnsupportedMediaType',
        field: 'Content-Type',
        message: `Content-Type: must be application/json, not ${type || 'absent'}`,
      };
    }
  }
  return undefined;
}
