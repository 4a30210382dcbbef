/**
 * Reads the head of an HTTP/1.x response off a raw socket: the status line and
 * the few headers a probe needs, and how the body that follows is framed.
 * Bounded: a head longer than MAX_HEAD_BYTES is not a heartbeat's answer.
 */

export const MAX_HEAD_BYTES = 16 * 1024;

export interface ResponseHead {
  status: number;
  /** Lower-cased header names; a repeated header keeps its last value. */
  headers: Map<string, string>;
}

/** How the body after a head ends (RFC 9112 section 6.3, for a 200 answer to a GET or POST). */
export type Framing =
  | { kind: 'length'; bytes: number } // Content-Length
  | { kind: 'chunked' } // Transfer-Encoding ending in chunked (Content-Length ignored)
  | { kind: 'close' }; // neither: the body is everything until the peer closes

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

const STATUS_PREFIX = 'HTTP/1.';

/**
 * Whether `text`, the first bytes of an answer, can still grow into an HTTP/1.x status line
 * (`HTTP/1.0` or `HTTP/1.1`, a space, three digits, then a space or the line's end). False
 * as soon as one byte rules it out, so a non-HTTP answer is judged on its first bytes
 * rather than when the peer closes or the probe times out.
 */
export function couldBeStatusLine(text: string): boolean {
  const n = Math.min(text.length, 13);
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (i < 7) { if (c !== STATUS_PREFIX.charCodeAt(i)) return false; }
    else if (i === 7) { if (c !== 0x30 && c !== 0x31) return false; }
    else if (i === 8 || i === 12) { if (c !== 0x20 && !(i === 12 && c === 0x0d)) return false; }
    else if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/** A Content-Length value as a number, or -1 when absent or not plain digits. */
export function contentLength(head: ResponseHead): number {
  const v = head.headers.get('content-length');
  return v !== undefined && /^[0-9]{1,16}$/.test(v) ? Number(v) : -1;
}

/** The body's framing: chunked when Transfer-Encoding ends in chunked, else Content-Length, else until close. */
export function framing(head: ResponseHead): Framing {
  const te = head.headers.get('transfer-encoding');
  if (te !== undefined) {
    const codings = te.toLowerCase().split(',').map((s) => s.trim()).filter((s) => s !== '');
    // a transfer coding that does not end in chunked is read until the peer closes (RFC 9112 6.3 item 4)
    return codings[codings.length - 1] === 'chunked' ? { kind: 'chunked' } : { kind: 'close' };
  }
  const length = contentLength(head);
  return length >= 0 ? { kind: 'length', bytes: length } : { kind: 'close' };
}
