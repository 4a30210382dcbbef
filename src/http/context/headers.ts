/**
 * The request context the request log carries: who called (the proxy chain's `X-Forwarded-For`
 * or `Forwarded: for=`), with what (`User-Agent`), under which id (`X-Request-Id`, else a W3C
 * `traceparent`'s trace id), over which HTTP version.
 *
 * Read from `req.headers`. Node builds that object lazily from `req.rawHeaders` on first access
 * (~1 µs for six headers), but its own server reads `req.headers.host` and `.expect` for every
 * HTTP/1.1 request before any handler runs (parserOnIncoming in lib/_http_server.js, Node 20 and
 * 24), so it is always built already and four lookups cost ~20 ns; a pass of our own over
 * `rawHeaders` measured ~200 ns. Node's rules for repeated fields apply: list headers
 * (X-Forwarded-For, Forwarded, X-Request-Id, traceparent) are joined with ", ", a second
 * User-Agent is dropped. Nothing here runs unless the request log is on.
 */
import type { IncomingMessage } from 'node:http';
import { forwardedFor } from './forwarded';
import { traceId } from './traceparent';

export interface RequestContext {
  /** `X-Forwarded-For` as received (several fields joined with ", "), else `Forwarded`'s for= values; '' when absent. */
  forwardedFor: string;
  /** `User-Agent` ('' when absent; the first, when sent twice, as Node keeps it). */
  userAgent: string;
  /** `X-Request-Id`, else the trace id of a valid `traceparent`; '' when neither. */
  requestId: string;
  /** `HTTP/1.0` or `HTTP/1.1` ('' when unknown). */
  proto: string;
}

function protoOf(req: IncomingMessage): string {
  if (req.httpVersionMajor !== 1) return req.httpVersion ? `HTTP/${req.httpVersion}` : '';
  return req.httpVersionMinor === 1 ? 'HTTP/1.1' : req.httpVersionMinor === 0 ? 'HTTP/1.0' : `HTTP/${req.httpVersion}`;
}

const text = (v: string | string[] | undefined): string => (typeof v === 'string' ? v : '');

export function requestContext(req: IncomingMessage): RequestContext {
  const h = req.headers;
  const xff = text(h['x-forwarded-for']);
  const forwarded = xff === '' ? text(h.forwarded) : '';
  let requestId = text(h['x-request-id']);
  // Two traceparent fields arrive joined ("a, b"), which no longer parses: as invalid as a malformed
  // one, as W3C Trace Context has it.
  if (requestId === '') {
    const tp = text(h.traceparent);
    if (tp !== '') requestId = traceId(tp);
  }
  return {
    forwardedFor: xff !== '' ? xff : forwarded !== '' ? forwardedFor(forwarded) : '',
    userAgent: text(h['user-agent']),
    requestId,
    proto: protoOf(req),
  };
}
