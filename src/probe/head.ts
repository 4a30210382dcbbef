/**
 * Reads the head of an HTTP/1.x response off a raw socket: the status line and
 * the few headers a probe needs. Bounded: a head longer than MAX_HEAD_BYTES is
 * not a heartbeat's answer.
 */

export const MAX_HEAD_BYTES = 16 * 1024;

export interface ResponseHead {
  status: number;
  /** Lower-cased header names; a repeated header keeps its last value. */
  headers: Map<string, string>;
}

/** Parses the head (everything before the blank line, as latin1 text); null when it is not HTTP/1.x. */
export function parseHead(text: string): ResponseHead | null {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.[01] ([0-9]{3})(?: .*)?$/.exec(lines[0] ?? '');
  if (!m) return null;
  const headers = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(':');
    if (colon <= 0) return null;
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status: Number(m[1]), headers };
}

/** A Content-Length value as a number, or -1 when absent or not plain digits. */
export function contentLength(head: ResponseHead): number {
  const v = head.headers.get('content-length');
  return v !== undefined && /^[0-9]{1,16}$/.test(v) ? Number(v) : -1;
}
