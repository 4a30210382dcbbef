/**
 * The HTTP server and its lifecycle: one node:http server whose request
 * handler sends heartbeat requests straight to the heartbeat route and
 * everything else to the Express app; the timeouts; a graceful shutdown.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createApp } from './app';
import type { Config } from './config/schema';
import { createHeartbeat } from './heartbeat';
import { isoNow, roundMs } from './log/format';
import type { AppLogger } from './log/logger';
import { observe, type ExchangeResult } from './observe';

export interface HeartbeatServer {
  readonly server: http.Server;
  /** False once shutdown has begun. */
  readonly ready: boolean;
  listen(): Promise<AddressInfo>;
  /**
   * Stops accepting, lets in-flight requests finish (up to the drain timeout,
   * then cuts what is left), and resolves when every connection is closed.
   */
  shutdown(): Promise<void>;
}

/**
 * While draining, a keep-alive connection whose response has finished stays
 * open this long for a request already on its way (answered, with
 * `Connection: close`), then closes. Connections idle when shutdown begins
 * close at once.
 */
const DRAIN_IDLE_MS = 500;

/** A CONNECT socket, answered 405, is closed after this long if the client has not closed it. */
const CONNECT_LINGER_MS = 2000;

/** Stands in for destroy() on a socket that must not be destroyed just now (see shutdown). */
function spare(this: Socket): Socket {
  return this;
}

export function createServer(config: Config, logger: AppLogger, version: string): HeartbeatServer {
  const state = { ready: true };
  let draining = false;
  const heartbeat = createHeartbeat(config);
  const app = createApp({ uri: config.uri, version, state, logger });

  const logRequest = (r: ExchangeResult): void => logger.request({
    time: isoNow(),
    status: r.status,
    duration_ms: roundMs(r.durationMs),
    bytes_out: r.bytesOut,
    bytes_in: r.bytesIn,
    method: r.method,
    path: r.url,
    client: r.client,
    aborted: r.aborted,
  });

  const dispatch = (req: http.IncomingMessage, res: http.ServerResponse, expectsContinue?: boolean): void => {
    const x = logger.requests ? observe(req, res, logRequest) : undefined;
    if (draining) res.setHeader('Connection', 'close');
    let url = req.url as string;
    if (url.charCodeAt(0) !== 47 /* / */) url = req.url = originForm(url);
    const isHeartbeat = heartbeat.matches(url);
    if (expectsContinue === true) {
      // `Expect: 100-continue`: refuse an oversized upload before its body is sent.
      if (isHeartbeat && req.method === 'POST' && !heartbeat.acceptsUpload(req, res)) return;
      res.writeContinue();
    }
    if (isHeartbeat) heartbeat.handle(req, res, x);
    else void app(req, res);
  };

  const server = http.createServer({
    headersTimeout: config.headersTimeout,
    requestTimeout: config.requestTimeout,
    keepAliveTimeout: config.keepAliveTimeout,
    // Checks the headers/request timeouts often enough to cut a slowloris near its deadline.
    connectionsCheckingInterval: Math.min(1000, Math.max(100, Math.floor(config.headersTimeout / 4))),
  }, dispatch);
  server.timeout = config.socketTimeout;
  server.keepAliveTimeout = config.keepAliveTimeout;

  // Every open connection, for the shutdown to see which are still writing a response.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  // Through dispatch like any request, so it is observed (logged) whatever the answer.
  server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => dispatch(req, res, true));
  // CONNECT is not a method heartbeat serves; without a listener Node would just drop the socket.
  // Node hands the socket over bare, outside every HTTP timeout and with its own error listener
  // removed: a client that resets it must not become an uncaught ECONNRESET that ends the
  // process, and one that never closes (or whose reset we never read) must not hold the socket.
  server.on('connect', (req: http.IncomingMessage, socket: Socket) => {
    const start = performance.now();
    const linger = setTimeout(() => socket.destroy(), CONNECT_LINGER_MS);
    socket.on('close', () => clearTimeout(linger));
    socket.on('error', () => socket.destroy());
    socket.resume(); // read and discard, so the client's close or reset is seen
    socket.end('HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD, POST\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    if (logger.requests) {
      logRequest({
        method: req.method ?? 'CONNECT', url: req.url ?? '', client: socket.remoteAddress ?? '', status: 405,
        durationMs: performance.now() - start, bytesIn: 0, bytesOut: 0, aborted: false,
      });
    }
  });

  let closed: Promise<void> | undefined;

  return {
    server,
    get ready() { return state.ready; },

    listen(): Promise<AddressInfo> {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port: config.port, host: config.host || undefined }, () => {
          server.off('error', reject);
          resolve(server.address() as AddressInfo);
        });
      });
    },

    shutdown(): Promise<void> {
      if (closed) return closed;
      state.ready = false;
      draining = true;
      server.keepAliveTimeout = DRAIN_IDLE_MS;
      closed = new Promise<void>((resolve) => {
        const deadline = setTimeout(() => {
          logger.warn('drain timeout reached; closing remaining connections', { drainTimeout: config.drainTimeout });
          server.closeAllConnections();
        }, config.drainTimeout);
        // Stops accepting and closes the connections that are idle now. Node counts a
        // connection idle as soon as res.end() has been called, even while the end of the body
        // is still queued in the socket, and would cut that body short: such sockets are
        // shielded from it, and close after their response like any busy connection.
        const flushing = [...sockets].filter((socket) => socket.writableLength > 0);
        for (const socket of flushing) socket.destroy = spare;
        try {
          server.close(() => {
            clearTimeout(deadline);
            resolve();
          });
        } finally {
          for (const socket of flushing) Reflect.deleteProperty(socket, 'destroy');
        }
      });
      return closed;
    },
  };
}

/**
 * Absolute-form targets (`GET http://host/heartbeat/17`) are turned into the
 * path they name; anything else (`*`, garbage) is left for the app to answer 404.
 */
function originForm(url: string): string {
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*([/?][^#]*)?$/.exec(url);
  if (!m) return url;
  const rest = m[1] ?? '/';
  return rest.startsWith('?') ? '/' + rest : rest;
}
