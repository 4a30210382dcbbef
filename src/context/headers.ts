/**
 * The request context the request log carries: who called (the proxy chain's `X-Forwarded-For`
 * or `Forwarded: for=`), with what (`User-Agent`), under which id (`X-Request-Id`, else a W3C
 * `traceparent`'s trace id), over which HTTP version.
 *
 * Read straight from `req.rawHeaders`, never `req.headers`: Node builds the `headers` object
 * lazily, on first access, from the raw list (one matchKnownFields, and a lower-cased copy of
 * every unknown name, per header), and the heartbeat route never touches it. One pass over the
 * raw list, comparing only names of the right length, allocates nothing but what it returns.
 */
import type { IncomingMessage } from 'node:http';
import { forwardedFor } from './forwarded';
import { traceId } from './traceparent';

export interface RequestContext {
  /** `X-Forwarded-For` as received (several fields joined with ", "), else `Forwarded`'s for= values; '' when absent. */
  forwardedFor: string;
  /** `User-Agent` ('' when absent; the first, when sent twice, as Node keeps it). */
  userAgent: string;
  /** `X-Request-Id` (the first), else the trace id of a valid `traceparent`; '' when neither. */
  requestId: string;
  /** `HTTP/1.0` or `HTTP/1.1` ('' when unknown). */
  proto: string;
}

/** The context of a request the parser rejected: nothing of it is known but, maybe, its HTTP version. */
export function unknownContext(proto = ''): RequestContext {
  return { forwardedFor: '', userAgent: '', requestId: '', proto };
}

/**
 * Whether header name `name` is `lower` (lower case letters and '-'), ignoring case, without
 * allocating. `| 0x20` folds A-Z onto a-z; among the token characters a header name may hold
 * (llhttp refuses the rest), only A-Z fold onto a letter and none folds onto '-'.
 */
function named(name: string, lower: string): boolean {
  if (name === lower) return true;
  for (let i = 0; i < lower.length; i++) {
    if ((name.charCodeAt(i) | 0x20) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

function protoOf(req: IncomingMessage): string {
  if (req.httpVersionMajor !== 1) return req.httpVersion ? `HTTP/${req.httpVersion}` : '';
  return req.httpVersionMinor === 1 ? 'HTTP/1.1' : req.httpVersionMinor === 0 ? 'HTTP/1.0' : `HTTP/${req.httpVersion}`;
}

export function requestContext(req: IncomingMessage): RequestContext {
  const raw = req.rawHeaders;
  let xff = '';
  let forwarded = '';
  let userAgent = '';
  let requestId = '';
  let traceparent = '';
  let traceparents = 0;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    switch (name.length) {
      case 15:
        // A list header: several fields mean the same as one joined with commas (RFC 9110 5.3).
        if (value !== '' && named(name, 'x-forwarded-for')) xff = xff === '' ? value : `${xff}, ${value}`;
        break;
      case 9:
        if (value !== '' && named(name, 'forwarded')) forwarded = forwarded === '' ? value : `${forwarded}, ${value}`;
        break;
      case 10:
        if (userAgent === '' && named(name, 'user-agent')) userAgent = value;
        break;
      case 12:
        if (requestId === '' && named(name, 'x-request-id')) requestId = value;
        break;
      case 11:
        if (named(name, 'traceparent')) {
          traceparent = value;
          traceparents++;
        }
        break;
      default:
    }
  }
  // W3C Trace Context: more than one traceparent field is as invalid as a malformed one.
  if (requestId === '' && traceparents === 1) requestId = traceId(traceparent);
  return {
    forwardedFor: xff !== '' ? xff : forwarded !== '' ? forwardedFor(forwarded) : '',
    userAgent,
    requestId,
    proto: protoOf(req),
  };
}
