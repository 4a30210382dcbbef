/**
 * Watches one request/response exchange and reports it once, when the response
 * has finished or the client went away. Only attached when something (request
 * logging, metrics) wants it, so the hot path pays nothing otherwise.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { connectionOf } from './connection-state';
import { requestContext, type RequestContext } from './context/headers';
import { isoNow, roundMs, type RequestRecord } from '../log/format';

export interface Exchange {
  /** performance.now() when the request arrived. */
  readonly start: number;
  /** Request body bytes read so far (the upload handler counts them). */
  bytesIn: number;
  /** Response body bytes the socket has taken, for bodies streamed in several writes. */
  bytesOut: number;
  /** The body length the response declared (-1 until a responder says). */
  declared: number;
  /** Set when the HTTP parser rejected the request mid-way and the error status went out raw. */
  rejected?: number;
}

const EXCHANGE = Symbol('heartbeat.exchange');

/** The parser rejected this request after it was dispatched; `status` was answered on the socket. */
export function rejectExchange(res: ServerResponse, status: number): void {
  const x = (res as Observed)[EXCHANGE];
  if (x) x.rejected = status;
}

/** The status logged for a client that went away before any response was sent. */
export const CLIENT_CLOSED = 499;
type Observed = ServerResponse & { [EXCHANGE]?: Exchange };

/** Responders call this with the body length they send, so a finished exchange reports it. */
export function declareBody(res: ServerResponse, bytes: number): void {
  const x = (res as Observed)[EXCHANGE];
  if (x) x.declared = bytes;
}

/** What kind of traffic an exchange is: a bounded set, safe as a metrics label. */
export type Route = 'heartbeat' | 'upload' | 'probe' | 'metrics' | 'other';

/**
 * One exchange's outcome, reported once: the request log's record itself (src/log/format.ts defines its
 * columns; `time` is '' when no log wants it), plus what the metrics need besides.
 */
export interface ExchangeResult extends RequestRecord {
  route: Route;
  /** The body length the response declared (0 when none). */
  declared: number;
}

export type ExchangeListener = (result: ExchangeResult) => void;

/** An exchange being watched: what its report needs, kept on the object so no closure is made per request. */
interface Watch extends Exchange {
  readonly res: ServerResponse;
  readonly route: Route;
  readonly done: ExchangeListener;
  readonly method: string;
  readonly url: string;
  readonly client: string;
  readonly context: RequestContext | undefined;
  readonly open: Set<Watch>;
  reported: boolean;
}

/**
 * The exchanges of a connection not reported yet. When the connection closes, each of them ends
 * there: Node 20 never emits 'close' for a response queued behind an unfinished one (pipelining)
 * when the client goes away, so waiting for the response alone would lose it.
 */
function openOn(socket: Socket): Set<Watch> {
  const conn = connectionOf(socket);
  let open = conn.exchanges as Set<Watch> | undefined;
  if (!open) {
    const set = (open = new Set<Watch>());
    conn.exchanges = set;
    socket.once('close', () => {
      for (const w of set) report(w);
    });
  }
  return open;
}

/** The response's 'close' listener, one function for every response. */
function onResponseClose(this: ServerResponse): void {
  report((this as Observed)[EXCHANGE] as Watch);
}

/**
 * Reports an exchange once: at the response's 'close' or the connection's, whichever comes first.
 * The outcome is read from the response either way, so both report the same.
 */
function report(w: Watch): void {
  if (w.reported) return;
  w.reported = true;
  w.open.delete(w);
  const { res } = w;
  const finished = res.writableFinished;
  const bytesOut = !finished ? w.bytesOut : w.method === 'HEAD' ? 0 : Math.max(w.declared, w.bytesOut);
  const c = w.context;
  w.done({
    // The context is read only when the request log wants it: then the time too.
    time: c ? isoNow() : '',
    route: w.route,
    method: w.method,
    path: w.url,
    client: w.client,
    // Nothing was sent when the client went away (mid-upload, say): 499, as nginx logs it.
    status: w.rejected ?? (res.headersSent ? res.statusCode : CLIENT_CLOSED),
    duration_ms: roundMs(performance.now() - w.start),
    bytes_in: w.bytesIn,
    bytes_out: bytesOut,
    declared: w.declared < 0 ? 0 : w.declared,
    aborted: !finished && w.rejected === undefined,
    forwarded_for: c?.forwardedFor ?? '',
    user_agent: c?.userAgent ?? '',
    request_id: c?.requestId ?? '',
    proto: c?.proto ?? '',
  });
}

/**
 * `withClient`: also record the peer address and the context headers (the request log wants
 * them; metrics do not).
 */
export function observe(
  req: IncomingMessage, res: ServerResponse, route: Route, done: ExchangeListener, withClient: boolean,
): Exchange {
  const open = openOn(req.socket);
  const w: Watch = {
    start: performance.now(), bytesIn: 0, bytesOut: 0, declared: -1, rejected: undefined,
    res, route, done,
    // Taken now: the URL may be rewritten by routing and the socket may be gone at the end.
    method: req.method ?? '',
    url: req.url ?? '',
    client: withClient ? req.socket.remoteAddress ?? '' : '',
    context: withClient ? requestContext(req) : undefined,
    open,
    reported: false,
  };
  (res as Observed)[EXCHANGE] = w;
  open.add(w);
  res.on('close', onResponseClose);
  return w;
}
