/**
 * What happens on SIGTERM/SIGINT: the graceful drain of the HTTP server, on Node's own mechanisms.
 *
 * 1. `draining` turns true: /readyz answers 503, and every response started from now on carries
 *    `Connection: close`, so Node closes each connection after the response it is on.
 * 2. New connections are closed at once, and `server.close()` is called at a
 *    moment when it cuts nothing (below): the listener stops accepting (new connections are refused)
 *    and Node closes the idle connections, those with no request on its way, not even part of its
 *    headers. No response still being written is cut, and a connection accepted but with nothing read
 *    yet gets DRAIN_IDLE_MS for its request, on Node 26 as on Node 20 (Node 26's close() alone would
 *    close it at once). Public API only: close(), the responses' and sockets' events.
 * 3. `keepAliveTimeout` drops to DRAIN_IDLE_MS: a keep-alive connection whose response finishes
 *    during the drain waits that long for a request already on its way (answered, with
 *    `Connection: close`), then Node closes it.
 * 4. After `drainTimeout` whatever is left is cut (and still logged, as aborted).
 *
 * The drain resolves only once every connection has emitted 'close': by then every exchange on it
 * has been reported (logged and counted).
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import { connectionOf, existingConnection } from './connection-state';

/**
 * While draining, a keep-alive connection whose response has finished stays open this long for a
 * request already on its way (Node 24 adds its keepAliveTimeoutBuffer, 1 s).
 */
const DRAIN_IDLE_MS = 500;

export class DrainingServer extends http.Server {
  /** Every open connection (CONNECT sockets too, which Node's HTTP server no longer tracks). */
  private readonly sockets = new Set<Socket>();
  private onSocketClosed: (() => void) | undefined;
  private freshWait: NodeJS.Timeout | undefined;
  private begun = false;
  private drained: Promise<void> | undefined;

  constructor(options: http.ServerOptions, listener: http.RequestListener) {
    super(options, listener);
    this.on('connection', (socket: Socket) => {
      // Accepted after the drain began, before the listener closed (below): closed at once.
      if (this.begun) {
        socket.destroy();
        return;
      }
      this.sockets.add(socket);
      socket.once('close', () => {
        this.sockets.delete(socket);
        this.onSocketClosed?.();
      });
    });
  }

  /** True once the drain has begun. */
  get draining(): boolean {
    return this.begun;
  }

    /**
   * Calls `done` at a moment when `close()` may close the idle connections: Node's `close()` closes
   * every connection it takes as idle, and it takes one as idle once its request has been read and the
   * response Node is writing has *ended* (`res.end()` called), even while the end of that response,
   * and the pipelined responses queued behind it, are still waiting to be written: closing it then cuts
   * them (a client reading slowly loses the tail). So `close()` is called once no connection's current
   * response is in that state; until then, each such response is waited for, and then the one queued
   * behind it (src/http/connection-state.ts).
   *
   * Node 26's also takes a connection accepted a moment ago, with nothing read yet, as idle (Node 20's
   * does not): its request may be on its way. Such connections get DRAIN_IDLE_MS to send it first;
   * those that sent nothing are then closed here, on every Node.
   */
  private whenSafeToClose(done: () => void): void {
    const fresh = [...this.sockets].filter((s) => existingConnection(s)?.fresh ?? s.bytesRead === 0);
    if (fresh.length > 0) {
      this.freshWait = setTimeout(() => {
        for (const s of fresh) if (existingConnection(s)?.fresh ?? (s.bytesRead === 0 && !s.destroyed)) s.destroy();
        this.freshWait = undefined;
        this.whenSafeToClose(done);
      }, DRAIN_IDLE_MS);
      return;
    }
    const writing = [...this.sockets].filter((s) => connectionOf(s).flushing());
    if (writing.length === 0) return done();
    let left = writing.length;
    const next = (): void => {
      if (--left === 0) this.whenSafeToClose(done);
    };
    for (const socket of writing) this.whenFlushed(socket, next);
  }

  /** Calls `done` once the connection has no ended response still being written (or has closed). */
  private whenFlushed(socket: Socket, done: () => void): void {
    const conn = connectionOf(socket);
    const res = conn.writing();
    if (!res || socket.destroyed || !res.writableEnded) return done();
    let waited = false;
    const once = (): void => {
      if (waited) return;
      waited = true;
      res.off('finish', once);
      socket.off('close', once);
      // The next response queued behind it may have ended too (8 pipelined GETs answered at once). And
      // a client that pipelines faster than it reads has requests Node has not read yet (it stops reading
      // while responses are queued): once this one is written Node reads on, so look again after that read.
      setImmediate(() => this.whenFlushed(socket, done));
    };
    res.once('finish', once);
    socket.once('close', once);
  }

  /**
   * Begins the drain (once; later calls return the same promise). `onTimeout` is told how many
   * connections are still open when the drain timeout cuts them.
   */
  drain(timeoutMs: number, onTimeout: (connections: number) => void): Promise<void> {
    if (this.drained) return this.drained;
    this.begun = true;
    this.drained = new Promise<void>((resolve) => {
      this.keepAliveTimeout = DRAIN_IDLE_MS;
      let listenerClosed = false;
      let closing = false;
      const done = (): void => {
        if (!listenerClosed || this.sockets.size > 0) return;
        clearTimeout(deadline);
        clearTimeout(this.freshWait);
        resolve();
      };
      const closeListener = (): void => {
        if (closing) return;
        closing = true;
        this.close(() => {
          listenerClosed = true;
          done();
        });
      };
      const deadline = setTimeout(() => {
        onTimeout(this.sockets.size);
        closeListener();
        this.closeAllConnections();
        for (const socket of this.sockets) socket.destroy(); // CONNECT sockets are not the HTTP server's any more
      }, timeoutMs);
      this.onSocketClosed = done;
      this.whenSafeToClose(closeListener);
    });
    return this.drained;
  }
}
