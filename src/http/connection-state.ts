/**
 * One connection's state, owned here: every other module reads it or asks for a change through the
 * methods below, none writes a field. One small object per connection, made on its first use and kept
 * on the socket under one symbol. It holds what the drain, the parser-error handler and the observer
 * need to know about a connection:
 *
 * - the responses handed to a handler whose bytes are not all written yet, oldest first: HTTP
 *   answers in order, so the oldest is the one Node is writing now, and the others wait behind it
 *   (pipelining). The drain asks whether that one has ended while its bytes are still queued;
 * - the last response handed to a handler: the parser-error handler asks whether an error belongs to
 *   that request (its body) or to a request after it, and how many requests came before it;
 * - whether a parser error has been answered (src/http/client-error.ts);
 * - the exchanges being observed and not reported yet (src/http/observe.ts), each ended when the
 *   connection closes;
 * - when it was accepted (with request logging: a rejected first request's duration).
 *
 * A request costs a push and a shift on a short array (one entry unless the client pipelines).
 */
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

const STATE = Symbol('heartbeat.connection');

/** What the observer tracks per connection: ended once, at the latest when the connection closes. */
export interface Tracked {
  end(): void;
}

export class ConnectionState {
  /** Responses handed to a handler and not all written, oldest first. */
  private readonly unwritten: ServerResponse[] = [];
  private lastResponse: ServerResponse | undefined = undefined;
  private handed = 0;
  private rejectedOnce = false;
  private open: Set<Tracked> | undefined = undefined;
  private acceptedAt: number | undefined = undefined;

  constructor(readonly socket: Socket) {}

  /** A request was handed to a handler; `res` answers it. */
  handedOver(res: ServerResponse): void {
    this.prune();
    this.unwritten.push(res);
    this.lastResponse = res;
    this.handed++;
  }

  /** The last response handed to a handler on this connection. */
  get last(): ServerResponse | undefined {
    return this.lastResponse;
  }

  /** Requests handed to a handler on this connection. */
  get requests(): number {
    return this.handed;
  }

  /** Notes that a parser error is answered on this connection: false when one already was (later errors of the same bytes). */
  reject(): boolean {
    if (this.rejectedOnce) return false;
    this.rejectedOnce = true;
    return true;
  }

  /** Notes the accept time (request logging on): a rejected first request's duration counts from it. */
  accepted(): void {
    this.acceptedAt = performance.now();
  }

  /** performance.now() of the accept, when noted. */
  get acceptedTime(): number | undefined {
    return this.acceptedAt;
  }

  /**
   * Tracks an observed exchange until `untrack`; when the connection closes first, each one still
   * tracked is ended there (Node 20 never emits 'close' for a response queued behind an unfinished one
   * when the client goes away, so waiting for the response alone would lose it).
   */
  track(t: Tracked): void {
    let open = this.open;
    if (!open) {
      const set = (open = this.open = new Set<Tracked>());
      this.socket.once('close', () => {
        for (const x of set) x.end();
      });
    }
    open.add(t);
  }

  untrack(t: Tracked): void {
    this.open?.delete(t);
  }

  /** The response Node is writing now: the oldest whose bytes are not all written. */
  writing(): ServerResponse | undefined {
    this.prune();
    return this.unwritten[0];
  }

  /**
   * True while the response being written has ended (`res.end()` called) but its bytes are not all
   * written: Node's idle-connection closing would take the connection as idle, and cut that response
   * and every response queued behind it.
   */
  flushing(): boolean {
    const res = this.writing();
    return res !== undefined && !this.socket.destroyed && res.writableEnded;
  }

  /** Accepted and nothing read yet: no request is on its way, unless its bytes are in flight. */
  get fresh(): boolean {
    return this.handed === 0 && this.socket.bytesRead === 0 && !this.socket.destroyed;
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
