/**
 * The HTTP server and its lifecycle: one node:http server whose request
 * handler sends heartbeat requests straight to the heartbeat route and
 * everything else to the Express app; the timeouts; a graceful shutdown.
 */
import http from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createApp } from './app';
import { requestContext } from './context/headers';
import { handleClientError } from './client-error';
import type { Config } from './config/schema';
import { createHeartbeat } from './heartbeat';
import { isoNow, roundMs } from './log/format';
import type { AppLogger } from './log/logger';
import { createMetrics, metricsServer, type Metrics } from './metrics';
import { HEARTBEAT_METHODS, PROBE_PATHS } from './paths';
import { pathOf, sendText } from './respond';
import { observe, type Exchange, type ExchangeListener, type ExchangeResult, type Route } from './observe';

export interface HeartbeatServer {
  readonly server: http.Server;
  /** False once shutdown has begun. */
  readonly ready: boolean;
  /** The metrics (--metrics): probe mode registers its own in the same registry. */
  readonly metrics?: Metrics;
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

export function createServer(config: Config, logger: AppLogger, version: string): HeartbeatServer {
  const state = { ready: true };
  let draining = false;
  const heartbeat = createHeartbeat(config);
  const metrics = config.metrics
    ? createMetrics(version, { ready: () => state.ready, logLinesDropped: () => logger.droppedLines })
    : undefined;
  const metricsHere = metrics && config.metricsPort === 0 ? config.metricsPath : undefined;
  const app = createApp({ uri: config.uri, version, state, logger, metrics: metricsHere ? metrics : undefined, metricsPath: config.metricsPath });

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
    forwarded_for: r.context?.forwardedFor ?? '',
    user_agent: r.context?.userAgent ?? '',
    request_id: r.context?.requestId ?? '',
    proto: r.context?.proto ?? '',
  });
  // Who wants to hear about each exchange; with nobody, requests are not observed at all.
  const log = logger.requests ? [logRequest] : [];
  const onExchange = fanOut([...log, ...(metrics ? [metrics.end] : [])]);
  const onRejected = fanOut([...log, ...(metrics ? [metrics.rejected] : [])]);

  /** The route label of a request that is not the heartbeat's. */
  const routeOf = (url: string): Route => {
    const path = pathOf(url);
    if ((PROBE_PATHS as readonly string[]).includes(path)) return 'probe';
    return path === metricsHere ? 'metrics' : 'other';
  };

  /**
   * Every request comes here. `expect`: the request carried `Expect: 100-continue`
   * ('continue': only an upload that will be read gets `100 Continue`; everything else
   * gets its final answer at once) or another expectation we do not support ('other': 417).
   */
  const dispatch = (req: http.IncomingMessage, res: http.ServerResponse, expect?: 'continue' | 'other'): void => {
    const raw = req.url as string;
    const url = raw.charCodeAt(0) === 47 /* / */ ? raw : originForm(raw);
    const isHeartbeat = heartbeat.matches(url);
    let x: Exchange | undefined;
    if (onExchange) {
      x = observe(req, res, isHeartbeat ? (req.method === 'POST' ? 'upload' : 'heartbeat') : routeOf(url), onExchange, logger.requests);
      metrics?.begin();
    }
    if (url !== raw) req.url = url;
    if (draining) res.setHeader('Connection', 'close');
    if (expect === 'other') sendText(res, 417, 'only Expect: 100-continue is supported\n');
    else if (isHeartbeat) heartbeat.handle(req, res, x, expect === 'continue');
    else void app(req, res);
  };

  const serverOptions: http.ServerOptions = {
    headersTimeout: config.headersTimeout,
    requestTimeout: config.requestTimeout,
    keepAliveTimeout: config.keepAliveTimeout,
    // Checks the headers/request timeouts often enough to cut a slowloris near its deadline.
    connectionsCheckingInterval: Math.min(1000, Math.max(100, Math.floor(config.headersTimeout / 4))),
  };
  const server = http.createServer(serverOptions, dispatch);
  server.timeout = config.socketTimeout;

  // Every open connection, for the shutdown to see which are still writing.
  const sockets = new Set<Socket>();
  let onSocketClosed: (() => void) | undefined;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      onSocketClosed?.();
    });
  });

  // Through dispatch like any request, so it is observed (logged) whatever the answer.
  server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => dispatch(req, res, 'continue'));
  server.on('checkExpectation', (req: http.IncomingMessage, res: http.ServerResponse) => dispatch(req, res, 'other'));
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    handleClientError(err, socket, onRejected);
  });
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
    socket.end(`HTTP/1.1 405 Method Not Allowed\r\nAllow: ${HEARTBEAT_METHODS}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    onRejected?.({
      route: 'other', method: req.method ?? 'CONNECT', url: req.url ?? '', client: socket.remoteAddress ?? '', status: 405,
      durationMs: performance.now() - start, bytesIn: 0, bytesOut: 0, declared: 0, aborted: false,
      context: logger.requests ? requestContext(req) : undefined,
    });
  });

  // Metrics on a port of their own, when asked: only the metrics path is served there.
  const side = metrics && config.metricsPort !== 0 ? metricsServer(metrics, config.metricsPath, serverOptions) : undefined;

  let closed: Promise<void> | undefined;

  return {
    server,
    metrics,
    get ready() { return state.ready; },

    async listen(): Promise<AddressInfo> {
      if (side) await listenOn(side, config.metricsPort, config.host);
      return listenOn(server, config.port, config.host);
    },

    shutdown(): Promise<void> {
      if (closed) return closed;
      state.ready = false;
      draining = true;
      server.keepAliveTimeout = DRAIN_IDLE_MS;
      closed = new Promise<void>((resolve) => {
        const deadline = setTimeout(() => {
          logger.warn('drain timeout reached; closing remaining connections', { drainTimeout: config.drainTimeout, connections: sockets.size });
          server.closeAllConnections();
          for (const socket of sockets) socket.destroy(); // CONNECT sockets are not the HTTP server's any more
        }, config.drainTimeout);
        // Done when the listener is closed and every socket has emitted 'close': only then
        // has every response emitted its own 'close', and so been logged and counted.
        let listenerClosed = false;
        const done = (): void => {
          if (!listenerClosed || sockets.size > 0) return;
          clearTimeout(deadline);
          // The metrics port serves until the drain is done, so a scrape sees heartbeat_ready 0
          // and the requests still in flight.
          if (side?.listening) {
            side.close();
            side.closeAllConnections();
          }
          resolve();
        };
        onSocketClosed = done;
        // Closes the connections that are idle now: no response in flight on them and nothing
        // left in their send buffer (Node calls a connection idle as soon as res.end() is called,
        // while the end of the body may still be queued: closing it then would cut the body).
        // Connections busy now get `Connection: close` on any next request, or close after
        // DRAIN_IDLE_MS idle (keepAliveTimeout above).
        const closeIfIdle = (socket: Socket): void => {
          if ((socket as Socket & { _httpMessage?: unknown })._httpMessage) return;
          if (socket.writableLength > 0) socket.once('drain', () => closeIfIdle(socket));
          else socket.destroy();
        };
        // Stops accepting. Not server.close(): that also closes Node's idle connections at once,
        // the flushing ones among them.
        net.Server.prototype.close.call(server, () => {
          listenerClosed = true;
          done();
        });
        for (const socket of sockets) closeIfIdle(socket);
      });
      return closed;
    },
  };
}

function fanOut(listeners: ExchangeListener[]): ExchangeListener | undefined {
  return listeners.length <= 1 ? listeners[0] : (r) => { for (const l of listeners) l(r); };
}

function listenOn(srv: http.Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen({ port, host: host || undefined }, () => {
      srv.off('error', reject);
      resolve(srv.address() as AddressInfo);
    });
  });
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
