/** The headers every heartbeat response carries, and the short plain-text replies built on them. */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';

export const TEXT_PLAIN = 'text/plain; charset=utf-8';

export const COMMON_HEADERS = {
  'Cache-Control': 'no-cache',
  'X-Content-Type-Options': 'nosniff',
} as const;

/**
 * Whether the request still has body bytes on their way that nobody is going to read.
 * Answering such a request keeps the connection only by reading them all (any size),
 * so the answer closes the connection instead.
 */
function bodyUnread(req: IncomingMessage | undefined): boolean {
  if (!req || req.complete || req.readableDidRead) return false;
  const cl = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (cl !== undefined && cl !== '0');
}

/** The headers of a short text answer: the common ones, its type and length, then `extra` (added or overriding). */
function textHeaders(body: string, extra: Record<string, string> | undefined): Record<string, string | number> {
  return { ...COMMON_HEADERS, 'Content-Type': TEXT_PLAIN, 'Content-Length': Buffer.byteLength(body), ...extra };
}

/**
 * Sends a short text body with the common headers; `extra` adds or overrides headers. Every plain-text
 * answer is this one, or rawAnswer() (the same headers) where there is no response object.
 */
export function sendText(
  res: ServerResponse, status: number, body: string, extra?: Record<string, string>,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers = textHeaders(body, extra);
  if (bodyUnread(res.req)) headers.Connection = 'close';
  res.writeHead(status, headers);
  res.end(body);
}

/**
 * The same short text answer as raw bytes, for a socket that has no response object (a request the
 * parser rejected, CONNECT): sendText's headers, then `Connection: close`.
 */
export function rawAnswer(status: number, body: string, extra: Record<string, string> = {}): string {
  const headers = { ...textHeaders(body, extra), Connection: 'close' };
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n${lines}\r\n${body}`;
}

/** The path of a request target: everything before the query string. */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/** 405 with the Allow header naming what the path takes. */
export function methodNotAllowed(res: ServerResponse, allow: string): void {
  sendText(res, 405, `method not allowed here; use ${allow}\n`, { Allow: allow });
}
