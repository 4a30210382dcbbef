/**
 * The Express app: everything but the heartbeat route and the health endpoints (which the server
 * answers before Express, see server.ts, src/http/health.ts): the metrics path on the heartbeat port,
 * the root redirect, and clear 4xx answers for everything else. No client input gets a 500.
 * Loaded only when the first such request comes (server.ts): 11.5 MiB of idle RSS on Node 26.
 */
import { STATUS_CODES } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { AppLogger } from '../log/logger';
import type { Metrics } from '../metrics/registry';
import { serveMetrics } from './metrics-endpoint';
import { READ_ONLY_METHODS } from './paths';
import { methodNotAllowed, sendText } from './respond';
import type { Status } from './status-routes';

/** A "%" not followed by two hex digits. */
const MALFORMED_PERCENT = /%(?![0-9A-Fa-f]{2})/;

export interface AppOptions {
  uri: string;
  logger: AppLogger;
  /** Served at metricsPath when given (metrics on, on the heartbeat port). */
  metrics?: Metrics;
  metricsPath: string;
  /** The status page on the heartbeat port (--status without --metrics-port), or its pointer to the metrics port. */
  status?: Pick<Status, 'serve'>;
}

export function createApp(opts: AppOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('case sensitive routing', true);
  app.set('strict routing', true);

  app.use((req, res, next) => {
    // The path only: a query string is ignored, as on the heartbeat route.
    if (MALFORMED_PERCENT.test(req.path)) return sendText(res, 400, 'malformed percent-encoding in the request path\n');
    next();
  });

  const { metrics } = opts;
  // Matched as a plain string: the path is an operator's setting, not an Express pattern.
  if (metrics) app.use((req, res, next) => (req.path === opts.metricsPath ? serveMetrics(metrics, req, res) : next()));
  const { status } = opts;
  if (status) app.use((req, res, next) => (status.serve(req, res) ? undefined : next()));

  // As the Go server: the root sends you to a small heartbeat.
  app.route('/')
    .get((_req, res) => sendText(res, 301, `moved to ${opts.uri}/17\n`, { Location: `${opts.uri}/17` }))
    .all((_req, res) => methodNotAllowed(res, READ_ONLY_METHODS));

  app.use((_req, res) => sendText(res, 404, 'not found\n'));

  // Express calls this for errors: a client's mistake keeps its 4xx; anything else is ours,
  // logged, and answered with a plain 500 that says nothing about the internals.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = err as { status?: unknown; statusCode?: unknown; message?: unknown };
    const status = Number(e.status ?? e.statusCode);
    if (status >= 400 && status < 500) return sendText(res, status, `${(STATUS_CODES[status] ?? 'client error').toLowerCase()}\n`);
    opts.logger.error('request failed', {
      method: req.method, path: req.url, error: String(e.message ?? err),
    });
    sendText(res, 500, 'internal error\n');
  });
  return app;
}
