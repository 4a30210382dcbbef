/**
 * Wire-exact answers: `{uri}/{size}?wire` answers a response whose bytes on the wire (status line,
 * every header, the blank line and the body) are exactly `size`. The headers are fixed (below, and
 * docs/mtu.md), so the only part that changes is the body: the usual pattern, shortened by the
 * overhead. The body is a slice of the payload the hot path already has; nothing here allocates in
 * proportion to the size.
 *
 * The head of a wire-exact answer, in the order Node writes it:
 *
 *     HTTP/1.1 200 OK
 *     Content-Type: text/plain; charset=utf-8
 *     Cache-Control: no-cache
 *     X-Content-Type-Options: nosniff
 *     Connection: close
 *     Content-Length: {body}
 *     X-Received-Bytes: {n}          (POST only)
 *     Date: {IMF-fixdate, always 29 characters}
 *
 * 192 bytes plus the digits of the body length (plus 20 and the count's digits for a POST).
 * `Connection: close` always: each answer is the whole server-to-client stream of its connection,
 * so the segments an operator counts are this answer's and nothing else's. One size in about
 * 10^k cannot be met with a k-digit length (`Content-Length` grows by two bytes where the body
 * reaches 10^k): there the value carries one space of optional whitespace (`Content-Length:  99`,
 * RFC 9112 §5) and the body is 10^k − 1.
 */
import { COMMON_HEADERS, TEXT_PLAIN } from './respond';

/** Whether the query string of `url` (from the `?` at `q`) has the bare parameter `wire`. */
export function wantsWire(url: string, q: number): boolean {
  if (q < 0) return false;
  let i = q + 1;
  while (i <= url.length) {
    let amp = url.indexOf('&', i);
    if (amp < 0) amp = url.length;
    if (amp - i === 4 && url.startsWith('wire', i)) return true;
    i = amp + 1;
  }
  return false;
}

const CRLF = 2;
const STATUS_LINE = 'HTTP/1.1 200 OK\r\n';
/** `Date: ` + an IMF-fixdate (`Fri, 04 Dec 2026 01:47:24 GMT`, fixed width) + CRLF. */
const DATE_LINE_BYTES = 'Date: '.length + 29 + CRLF;
const LENGTH_NAME = 'Content-Length';
export const RECEIVED_NAME = 'X-Received-Bytes';

/** The headers of every wire-exact answer besides Content-Length, Date and (POST) X-Received-Bytes. */
export const WIRE_HEADERS = {
  'Content-Type': TEXT_PLAIN,
  ...COMMON_HEADERS,
  Connection: 'close',
} as const;

const lineBytes = (name: string, value: string): number => name.length + 2 + value.length + CRLF;

/** Bytes of a wire-exact head that do not depend on the body: everything but the length's digits. */
export const WIRE_FIXED_BYTES = STATUS_LINE.length +
  Object.entries(WIRE_HEADERS).reduce((n, [k, v]) => n + lineBytes(k, v), 0) +
  DATE_LINE_BYTES + LENGTH_NAME.length + 2 + CRLF + CRLF;

/**
 * The interim answer an upload sent with `Expect: 100-continue` gets before its body: `HTTP/1.1 100
 * Continue` and a blank line, as Node writes it (writeContinue()). It is part of the wire-exact size.
 */
export const CONTINUE_BYTES = 'HTTP/1.1 100 Continue\r\n\r\n'.length;

/** The extra head bytes of an upload's answer: `X-Received-Bytes: {n}`. */
export function receivedBytes(received: number): number {
  return lineBytes(RECEIVED_NAME, String(received));
}

function digits(n: number): number {
  let d = 1;
  while (n >= 10) { n = Math.floor(n / 10); d++; }
  return d;
}

/** The smallest wire-exact answer: an empty body (`Content-Length: 0`), plus `extra` head bytes. */
export function wireMinimum(extra = 0): number {
  return WIRE_FIXED_BYTES + extra + 1;
}

/** How a wire-exact answer of one size is made. */
export interface WireFit {
  /** Body bytes. */
  body: number;
  /** The Content-Length value as written (a leading space in the one-in-10^k case, see above). */
  length: string;
}

/** The whole answer's bytes (head included) of a heartbeat's 200 to a GET of `body` bytes: the wire-exact head, unpadded. */
export function wireOfBody(body: number): number {
  return WIRE_FIXED_BYTES + digits(body) + body;
}

/** The body and length value that make the whole answer `size` bytes, or undefined below the minimum. */
export function fitWire(size: number, extra = 0): WireFit | undefined {
  const room = size - WIRE_FIXED_BYTES - extra; // body + the length's digits (+ 1 space when padded)
  if (room < 2) return room === 1 ? { body: 0, length: '0' } : undefined;
  const exact = lengthFor(room);
  if (exact) return exact;
  // room = 10^k + k: k digits leave a (k+1)-digit body, k+1 digits a k-digit one; pad one space
  const padded = lengthFor(room - 1) as WireFit;
  return { body: padded.body, length: ' ' + padded.length };
}

/** The body whose length's digits plus itself make `room`, when there is one. */
function lengthFor(room: number): WireFit | undefined {
  for (let d = 1; d <= 16 && d < room; d++) {
    const body = room - d;
    if (digits(body) === d) return { body, length: String(body) };
  }
  return undefined;
}

/** The headers of a wire-exact answer (Node adds Date). */
export function wireHeaders(fit: WireFit, received?: number): Record<string, string> {
  const h: Record<string, string> = { ...WIRE_HEADERS, [LENGTH_NAME]: fit.length };
  if (received !== undefined) h[RECEIVED_NAME] = String(received);
  return h;
}

/** The 400 body for a wire size outside [minimum, max]: names the minimum. */
export function wireRangeMessage(minimum: number, max: number): string {
  return `wire size must be a whole number of bytes from ${minimum} to ${max} ` +
    '(the whole response: status line, headers, blank line and body)\n';
}
