/** The headers every heartbeat response carries, and a plain-text reply built on them. */
import type { ServerResponse } from 'node:http';
import { declareBody } from './observe';

export const TEXT_PLAIN = 'text/plain; charset=utf-8';

export const COMMON_HEADERS = {
  'Cache-Control': 'no-cache',
  'X-Content-Type-Options': 'nosniff',
} as const;

/** Sends a short text body with the common headers; `extra` adds or overrides headers. */
export function sendText(
  res: ServerResponse, status: number, body: string, extra?: Record<string, string>,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const length = Buffer.byteLength(body);
  declareBody(res, length);
  res.writeHead(status, {
    ...COMMON_HEADERS,
    'Content-Type': TEXT_PLAIN,
    'Content-Length': length,
    ...extra,
  });
  res.end(body);
}
