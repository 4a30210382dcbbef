/**
 * One connection's state: what the drain, the parser-error handler, the request logger and the
 * metrics need to know about a connection, in one small object per connection (made on its first
 * use, kept on the socket under one symbol).
 *
 * - the responses handed to a handler whose bytes are not all written yet, oldest first: HTTP
 *   answers in order, so the oldest is the one Node is writing now, and the others wait behind it
 *   (pipelining). The drain asks whether that one has ended while its bytes are still queued;
 * - the last response handed to a handler: the parser-error handler asks whether an error belongs to
 *   that request (its body) or to a request after it;
 * - the exchanges being observed and not reported yet (src/http/observe.ts), reported when the
 *   connection closes;
 * - whether a parser error has been answered (src/http/client-error.ts);
 * - the start of a head still arriving and the time of the latest read (src/http/request-head.ts).
 *
 * A request costs a push and a shift on a short array (one entry unless the client pipelines).
 */
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

const STATE = Symbol('heartbeat.connection');

/** The reads kept of a head still arriving (src/http/request-head.ts). */
export interface KeptHead {
  parts: Buffer[];
  length: number;
  /** The response of the request handed over before the head began. */
  before: ServerResponse | undefined;
  /** performance.now() of the read it began in. */
  began: number;
  /** It began at a request boundary, so its first bytes are a start line. */
  fromStart: boolean;
}

export class ConnectionState {
  /** Responses handed to a handler and not all written, oldest first. */
  private readonly unwritten: ServerResponse[] = [];
  /** The last response handed to a handler on this connection. */
  last: ServerResponse | undefined = undefined;
  /** Requests handed to a handler on this connection. */
  requests = 0;
  /** Exchanges observed and not reported yet (src/http/observe.ts); made on the first. */
  exchanges: Set<unknown> | undefined = undefined;
  /** A parser error has been answered on this connection: later errors of the same bytes are not. */
  rejected = false;
  /** performance.now() of the accept and of the latest read (src/http/request-head.ts, with --log). */
  accepted: number | undefined = undefined;
  read: number | undefined = undefined;
  /** The start of a head still arriving (src/http/request-head.ts). */
  head: KeptHead | undefined = undefined;

  constructor(readonly socket: Socket) {}

  /** A request was handed to a handler; `res` answers it. */
  handedOver(res: ServerResponse): void {
    this.prune();
    this.unwritten.push(res);
    this.last = res;
    this.requests++;
  }

  /** The response Node is writing now: the oldest whose bytes are not all written. */
  writing(): ServerResponse | undefined {
    this.prune();
    return this.unwritten[0];
  }

  /**
   * True while the response being written has ended (`res.end()` called) but its bytes are not all
   * written: Node's closeIdleConnections() would take the connection as idle, and cut that response
   * and every response queued behind it.
   */
  flushing(): boolean {
    const res = this.writing();
    return res !== undefined && !this.socket.destroyed && res.writableEnded;
  }

  /** Accepted and nothing read yet: no request is on its way, unless its bytes are in flight. */
  get fresh(): boolean {
    return this.requests === 0 && this.socket.bytesRead === 0 && !this.socket.destroyed;
  }

  private prune(): void {
    const q = this.unwritten;
    while (q.length > 0 && ((q[0] as ServerResponse).writableFinished || (q[0] as ServerResponse).destroyed)) q.shift();
  }
}

type WithState = Socket & { [STATE]?: ConnectionState };

/** The state of a connection, made on its first use. */
export function connectionOf(socket: Socket): ConnectionState {
  const s = socket as WithState;
  return s[STATE] ?? (s[STATE] = new ConnectionState(socket));
}

/** The state of a connection if it has one (nothing is made). */
export function existingConnection(socket: Socket): ConnectionState | undefined {
  return (socket as WithState)[STATE];
}
