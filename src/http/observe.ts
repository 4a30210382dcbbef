/**
 * Observation: the one place that turns an exchange into a request log record and metric updates.
 * It wraps the handlers, as podinfo's and express's logging middleware does: the server calls
 * `watch` before it hands a request to its handler, and the handler answers knowing nothing of it.
 * What the record needs of the answer is read from the response itself: the body length from the
 * headers the handler writes (the `Content-Length` of its writeHead(), or the header it set), the
 * bytes of a body streamed in several writes as they are written, the status and whether it finished
 * when the response closes. Made only when something (request logging, metrics) wants it, so the hot
 * path pays nothing otherwise.
 *
 * Requests with no response object (the parser rejected them, CONNECT) are answered raw by their
 * handler (src/http/client-error.ts, src/http/connect-refusal.ts), which says what it answered; they
 * are recorded here too (`answeredRaw`).
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { connectionOf, type Tracked } from './connection-state';
import { requestContext, type RequestContext } from './context/headers';
import { isoNow, roundMs, type RequestRecord } from '../log/format';

/** What kind of traffic an exchange is: a bounded set, safe as a metrics label (`route`). */
export type RouteLabel = 'heartbeat' | 'upload' | 'health' | 'metrics' | 'other';

/**
 * One exchange's outcome, reported once: the request log's record itself (src/log/format.ts defines its
 * columns; `time` is '' when no log wants it), plus what the metrics need besides.
 */
export interface ExchangeResult extends RequestRecord {
  route: RouteLabel;
  /** The body length the response declared (0 when none). */
  declared: number;
}

export type ExchangeListener = (result: ExchangeResult) => void;

/** Who hears of each exchange. */
export interface ObserverSinks {
  /** The request log (--log): records carry the time and the request's context. */
  readonly log?: ExchangeListener;
  /** The metrics (--metrics): an exchange begins (in flight) and ends; a raw answer is only counted. */
  readonly metrics?: { readonly begin: () => void; readonly end: ExchangeListener; readonly rejected: ExchangeListener };
}

/** What the handler of a request with no response object (a parser error, CONNECT) answered. */
export interface RawAnswer {
  readonly socket: Socket;
  readonly status: number;
  /** The start line's method and target as far as they are certain, `-` otherwise; `proto` '' when unknown. */
  readonly method: string;
  readonly path: string;
  readonly proto: string;
  /** Body bytes of the answer. */
  readonly bytesOut: number;
  /** performance.now() of when the request is known to have begun at the latest; undefined: not known. */
  readonly began: number | undefined;
  /** The request, when the parser gave one (CONNECT): its context headers are logged. */
  readonly req?: IncomingMessage;
}

export interface Observer {
  /** Begins watching an exchange: called by the server just before the handler gets the request. */
  watch(req: IncomingMessage, res: ServerResponse, route: RouteLabel): void;
  /** The parser rejected the body of a watched request and `status` was answered: its record says so. */
  rejectedBody(res: ServerResponse, status: number): void;
  /** A request answered raw on the socket: recorded and counted, never in flight. */
  answeredRaw(a: RawAnswer): void;
}

/** The status logged for a client that went away before any response was sent. */
export const CLIENT_CLOSED = 499;

const EXCHANGE = Symbol('heartbeat.exchange');
type Observed = ServerResponse & { [EXCHANGE]?: Watch };

type WriteHead = (this: ServerResponse, status: number, reason?: unknown, headers?: unknown) => ServerResponse;
type Write = (this: ServerResponse, chunk: unknown, encoding?: unknown, cb?: unknown) => boolean;

/** An exchange being watched: everything its record needs, kept on one object so no closure is made per request. */
class Watch implements Tracked {
  readonly start = performance.now();
  bytesOut = 0;
  declared = -1;
  rejected: number | undefined = undefined;
  reported = false;
  readonly method: string;
  readonly url: string;
  readonly client: string;
  readonly context: RequestContext | undefined;

  constructor(
    readonly observer: Sinks,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly route: RouteLabel,
    readonly writeHead: WriteHead,
    readonly write: Write,
  ) {
    // Taken now: the URL may be rewritten by routing and the socket may be gone at the end.
    this.method = req.method ?? '';
    this.url = req.url ?? '';
    const withClient = observer.log !== undefined;
    this.client = withClient ? req.socket.remoteAddress ?? '' : '';
    this.context = withClient ? requestContext(req) : undefined;
  }

  /** Reports the exchange once: at the response's 'close' or the connection's, whichever comes first. */
  end(): void {
    if (this.reported) return;
    this.reported = true;
    const { res, req } = this;
    connectionOf(req.socket).untrack(this);
    const finished = res.writableFinished;
    const bytesOut = !finished ? Math.max(0, this.bytesOut - res.writableLength)
      : this.method === 'HEAD' ? 0 : Math.max(this.declared, this.bytesOut);
    const c = this.context;
    this.observer.exchange({
      // The context is read only when the request log wants it: then the time too.
      time: c ? isoNow() : '',
      route: this.route,
      method: this.method,
      path: this.url,
      client: this.client,
      // Nothing was sent when the client went away (mid-upload, say): 499, as nginx logs it.
      status: this.rejected ?? (res.headersSent ? res.statusCode : CLIENT_CLOSED),
      duration_ms: roundMs(performance.now() - this.start),
      bytes_in: countedBody(req),
      bytes_out: bytesOut,
      declared: this.declared < 0 ? 0 : this.declared,
      aborted: !finished && this.rejected === undefined,
      forwarded_for: c?.forwardedFor ?? '',
      user_agent: c?.userAgent ?? '',
      request_id: c?.requestId ?? '',
      proto: c?.proto ?? '',
    });
  }
}

/** Body bytes the handler read (counted beside it, src below). */
function countedBody(req: IncomingMessage): number {
  return (req as IncomingMessage & { [BODY_BYTES]?: number })[BODY_BYTES] ?? 0;
}
const BODY_BYTES = Symbol('heartbeat.bodyBytes');

/** The body length a handler's headers declare: `Content-Length` of writeHead()'s headers, else the one set. */
function declaredLength(res: ServerResponse, headers: unknown): number {
  if (headers !== null && typeof headers === 'object') {
    if (Array.isArray(headers)) {
      // [name, value, name, value, ...] or [[name, value], ...]
      for (let i = 0; i < headers.length; i++) {
        const h = headers[i] as unknown;
        if (Array.isArray(h)) {
          if (String(h[0]).toLowerCase() === 'content-length') return Number(h[1]);
        } else if (i % 2 === 0 && String(h).toLowerCase() === 'content-length') return Number(headers[i + 1]);
      }
    } else {
      const o = headers as OutgoingHttpHeaders;
      const v = o['Content-Length'] ?? o['content-length'];
      if (v !== undefined) return Number(v);
    }
  }
  const set = res.getHeader('content-length');
  return set === undefined ? -1 : Number(set);
}

/** The response's writeHead while it is watched: notes the declared body length, then Node's. */
function observedWriteHead(this: Observed, status: number, reason?: unknown, headers?: unknown): ServerResponse {
  const w = this[EXCHANGE] as Watch;
  w.declared = declaredLength(this, typeof reason === 'string' ? headers : reason);
  return w.writeHead.call(this, status, reason, headers);
}

/** The response's write while it is watched: counts the bytes of a body written in several writes. */
function observedWrite(this: Observed, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
  const w = this[EXCHANGE] as Watch;
  w.bytesOut += typeof chunk === 'string' ? Buffer.byteLength(chunk, typeof encoding === 'string' ? encoding as BufferEncoding : 'utf8')
    : (chunk as Uint8Array | null)?.byteLength ?? 0;
  return w.write.call(this, chunk, encoding, cb);
}

/** The response's 'close' listener, one function for every response. */
function onResponseClose(this: Observed): void {
  this[EXCHANGE]?.end();
}

/** The request's 'data' counter while watched, one function for every request. */
function onBodyData(this: IncomingMessage & { [BODY_BYTES]?: number }, chunk: Buffer): void {
  this[BODY_BYTES] = (this[BODY_BYTES] ?? 0) + chunk.length;
}

/**
 * Counts an upload's body beside the handler, from when the handler begins to read it (its 'data'
 * listener): a body the handler never reads (refused before reading) is never read for the count either.
 */
function onNewListener(this: IncomingMessage, event: string | symbol): void {
  if (event !== 'data') return;
  this.off('newListener', onNewListener);
  this.on('data', onBodyData);
}

class Sinks implements Observer {
  constructor(readonly log: ExchangeListener | undefined, readonly metrics: ObserverSinks['metrics']) {}

  watch(req: IncomingMessage, res: ServerResponse, route: RouteLabel): void {
    const o = res as Observed;
    // The response's own methods (its prototype's), called with the response as `this` by the wrappers.
    // eslint-disable-next-line @typescript-eslint/unbound-method
    const { writeHead, write } = o;
    const w = new Watch(this, req, res, route, writeHead as WriteHead, write as Write);
    o[EXCHANGE] = w;
    // Own properties, so they stay when Express gives the response its own prototype.
    o.writeHead = observedWriteHead;
    o.write = observedWrite;
    if (route === 'upload') req.on('newListener', onNewListener);
    connectionOf(req.socket).track(w);
    res.on('close', onResponseClose);
    this.metrics?.begin();
  }

  rejectedBody(res: ServerResponse, status: number): void {
    const w = (res as Observed)[EXCHANGE];
    if (w) w.rejected = status;
  }

  answeredRaw(a: RawAnswer): void {
    const c = this.log && a.req ? requestContext(a.req) : undefined;
    const r: ExchangeResult = {
      time: this.log ? isoNow() : '', route: 'other', method: a.method, path: a.path, client: this.log ? a.socket.remoteAddress ?? '' : '',
      status: a.status, duration_ms: a.began === undefined ? 0 : roundMs(performance.now() - a.began),
      bytes_in: 0, bytes_out: a.bytesOut, declared: 0, aborted: false,
      forwarded_for: c?.forwardedFor ?? '', user_agent: c?.userAgent ?? '', request_id: c?.requestId ?? '', proto: c?.proto ?? a.proto,
    };
    this.log?.(r);
    this.metrics?.rejected(r);
  }

  /** One exchange's record, to everyone who hears of it. */
  exchange(r: ExchangeResult): void {
    this.log?.(r);
    this.metrics?.end(r);
  }
}

/** The observer, or undefined when nothing logs or counts requests (then nothing is watched at all). */
export function createObserver(sinks: ObserverSinks): Observer | undefined {
  return sinks.log || sinks.metrics ? new Sinks(sinks.log, sinks.metrics) : undefined;
}
