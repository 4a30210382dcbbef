/**
 * Requests Node's parser lets through but heartbeat refuses, as RFC 9112 says a server must:
 *
 * - HTTP/1.1 without `Host` (RFC 9112 §3.2: 400). Node would answer these itself, bare (no common
 *   headers, no log line, no metric); the server turns that off (`requireHostHeader: false`) and
 *   answers here, like any request.
 * - a `Transfer-Encoding` whose last coding is not `chunked` (§6.3: the length cannot be known; 400
 *   and close). Node's parser refuses it on a POST but, on a GET or HEAD, takes the rest of the
 *   connection as the body: a request pipelined behind it would never be answered.
 *
 * Read from `rawHeaders` (the array Node already built), so a request pays no headers object, and
 * the names compared in place (src/http/header-name.ts), so no lower-cased copy either.
 */
import type { IncomingMessage } from 'node:http';
import { isName } from './header-name';

const NO_HOST = 'HTTP/1.1 requests need a Host header\n';
const BAD_CODING = 'only Transfer-Encoding: chunked is supported\n';

/** The 400 body for a request that must be refused, or undefined. */
export function refusedFraming(req: IncomingMessage): string | undefined {
  const raw = req.rawHeaders;
  let host = false;
  let coding: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (isName(name, 'host')) host = true;
    else if (isName(name, 'transfer-encoding')) coding = raw[i + 1];
  }
  if (!host && req.httpVersionMajor === 1 && req.httpVersionMinor === 1) return NO_HOST;
  if (coding !== undefined && !lastCodingIsChunked(coding)) return BAD_CODING;
  return undefined;
}

function lastCodingIsChunked(value: string): boolean {
  const last = value.slice(value.lastIndexOf(',') + 1).trim();
  return last.toLowerCase() === 'chunked';
}
