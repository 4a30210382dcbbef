/**
 * The HTTP server: one node:http server whose request handler sends heartbeat
 * requests straight to the heartbeat route and everything else to the Express
 * app; the timeouts; the wiring of parser errors, CONNECT and the drain.
 */
import type http from 'node:http';
import type { Socket } from 'node:net';
import type { createApp } from './app';
import { answerHealth } from './health';
import { handleClientError } from './client-error';
import { refusedFraming } from './framing';
import { refuseConnect } from './connect-refusal';
import { connectionOf } from './connection-state';
import type { Config } from '../config/schema';
import { createHeartbeat } from './heartbeat';
import { listenOn, type Listening } from './listen';
import type { AppLogger } from '../log/logger';
import { DrainingServer } from './drain';
import { createMetrics, type Metrics } from '../metrics/registry';
import { metricsServer } from './metrics-port';
import { HEALTH_PATHS } from './paths';
import { pathOf, sendText } from './respond';
import { createStatus, type Status } from './status-routes';
import { createUdpResponder } from '../udp/responder';
import { registerEchoMetrics } from '../udp/metrics';
import { createObserver } from './observe';

export interface HeartbeatServer {
  readonly server: http.Server;
  /** The metrics (--metrics): probe mode registers its own in the same registry. */
  readonly metrics?: Metrics;
  /** The status page (--status): probe mode feeds its probe book. */
  readonly status?: Status;
  /** Opens the heartbeat port (and the metrics port, when metrics have their own); rejects with a ListenError. */
  listen(): Promise<Listening>;
  /** The graceful drain (src/http/drain.ts); resolves when every connection is closed. */
  shutdown(): Promise<void>;
}

export function createServer(config: Config, logger: AppLogger, version: string): HeartbeatServer {
  const heartbeat = createHeartbeat(config);
  const metrics = config.metrics
    ? createMetrics(version, { ready: () => state.ready, logLinesDropped: () => logger.droppedLines })
    : undefined;
  const metricsHere = metrics && config.metricsPort === 0 ? config.metricsPath : undefined;
  // The UDP echo responder on the heartbeat's port number (src/udp/), with its counters in the metrics.
  const udp = config.udpEcho ? createUdpResponder(config.port, config.host) : undefined;
  if (udp && metrics) registerEchoMetrics(metrics.registry, udp.stats);
  // Requests answered on the heartbeat port (the status page shows them): one plain number.
  let served = 0;
  const status = config.status
    ? createStatus({ config, version, ready: () => state.ready, requests: () => served, logLinesDropped: () => logger.droppedLines })
    : undefined;
  // Ready until the drain begins: /readyz reads it.
  const state = { get ready() { return !server.draining; } };
  // Express serves what is neither the heartbeat nor a health endpoint: loaded on the first such request
  // (11.5 MiB of idle RSS on Node 26 that the kubelet's checks and the heartbeat never need; docs/memory.md).
  let app: Promise<ReturnType<typeof createApp>> | undefined;
  const loadApp = (): Promise<ReturnType<typeof createApp>> => (app ??= import('./app').then((m) =>
    m.createApp({ uri: config.uri, logger, metrics: metricsHere ? metrics : undefined, metricsPath: config.metricsPath,
    status: status && (config.metricsPort === 0 ? status : status.elsewhere) })));

  // Observation (src/http/observe.ts): the request log and the metrics hear of every exchange; with
  // neither, requests are not watched at all.
  const observer = createObserver({ log: logger.requests ? (r) => logger.request(r) : undefined, metrics });

  /**
   * Every request comes here: the route table, observation around the handler. `expect`: the request
   * carried `Expect: 100-continue` ('continue': only an upload that will be read gets `100 Continue`;
   * everything else gets its final answer at once) or another expectation we do not support ('other': 417).
   */
  const dispatch = (req: http.IncomingMessage, res: http.ServerResponse, expect?: 'continue' | 'other'): void => {
    const raw = req.url as string;
    const url = raw.charCodeAt(0) === 47 /* / */ ? raw : originForm(raw);
    served++;
    connectionOf(req.socket).handedOver(res);
    if (heartbeat.matches(url)) {
      // Watched with the target as sent (logged so); handled with its path.
      observer?.watch(req, res, req.method === 'POST' ? 'upload' : 'heartbeat');
      if (url !== raw) req.url = url;
      if (!refuse(req, res, expect)) heartbeat.handle(req, res, expect === 'continue');
      return;
    }
    const path = pathOf(url);
    const health = (HEALTH_PATHS as readonly string[]).includes(path);
    observer?.watch(req, res, health ? 'health' : path === metricsHere ? 'metrics' : 'other');
    if (url !== raw) req.url = url;
    if (refuse(req, res, expect)) return;
    if (health) answerHealth(req, res, path, state, version);
    else void loadApp().then((serve) => { serve(req, res); });
  };

  /** Answers what no route takes (src/http/framing.ts, an unsupported expectation); true when it did. */
  const refuse = (req: http.IncomingMessage, res: http.ServerResponse, expect: 'continue' | 'other' | undefined): boolean => {
    if (server.draining) res.setHeader('Connection', 'close');
    const refused = refusedFraming(req);
    if (refused) sendText(res, 400, refused, { Connection: 'close' });
    else if (expect === 'other') sendText(res, 417, 'only Expect: 100-continue is supported\n');
    else return false;
    return true;
  };

  const serverOptions: http.ServerOptions = {
    headersTimeout: config.headersTimeout,
    requestTimeout: config.requestTimeout,
    keepAliveTimeout: config.keepAliveTimeout,
    // Checks the headers/request timeouts often enough to cut a slowloris near its deadline.
    connectionsCheckingInterval: Math.min(1000, Math.max(100, Math.floor(config.headersTimeout / 4))),
  };
  // HTTP/1.1 without Host is answered by dispatch (src/http/framing.ts), with the common headers, logged and counted.
  const server = new DrainingServer({ ...serverOptions, requireHostHeader: false }, dispatch);
  server.timeout = config.socketTimeout;

  // Through dispatch like any request, so it is observed (logged) whatever the answer.
  server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => dispatch(req, res, 'continue'));
  server.on('checkExpectation', (req: http.IncomingMessage, res: http.ServerResponse) => dispatch(req, res, 'other'));
  // A rejected first request's duration counts from the accept.
  if (logger.requests) server.on('connection', (socket: Socket) => connectionOf(socket).accepted());
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const answered = handleClientError(err, socket);
    if (!answered || !observer) return;
    if ('raw' in answered) observer.answeredRaw(answered.raw);
    else observer.rejectedBody(answered.body, answered.status);
  });
  server.on('connect', (req: http.IncomingMessage, socket: Socket) => {
    const answered = refuseConnect(req, socket);
    observer?.answeredRaw(answered);
  });

  // Metrics (and the status page) on a port of their own, when asked: only their paths are served there.
  const side = (metrics || status) && config.metricsPort !== 0
    ? metricsServer(metrics, config.metricsPath, serverOptions, status?.serve)
    : undefined;

  return {
    server,
    metrics,
    status,

    async listen(): Promise<Listening> {
      const metricsAt = side ? await listenOn(side, config.metricsPort, config.host, 'metrics') : undefined;
      const heartbeatAt = await listenOn(server, config.port, config.host, 'heartbeat');
      status?.bound(heartbeatAt.address, heartbeatAt.port);
      return { heartbeat: heartbeatAt, metrics: metricsAt, udp: await udp?.listen() };
    },

    shutdown(): Promise<void> {
      // The metrics port serves until the drain is done, so a scrape sees heartbeat_ready 0 and the
      // requests still in flight.
      const closeSide = (): void => {
        if (!side?.listening) return;
        side.close();
        side.closeAllConnections();
      };
      return server.drain(config.drainTimeout, (connections) => {
        logger.warn('drain timeout reached; closing remaining connections', { drainTimeout: config.drainTimeout, connections });
      }).then(closeSide).then(() => udp?.close());
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
