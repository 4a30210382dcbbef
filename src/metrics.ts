/**
 * Prometheus metrics (prom-client), opt-in with --metrics. Per request the hot
 * path only bumps plain numbers in maps and one histogram child; prom-client
 * reads the totals when Prometheus scrapes (collect()), so the cost stays
 * small. Label values are bounded: route is one of five words, never a path.
 */
import http from 'node:http';
import type * as client from 'prom-client';
import { methodNotAllowed, sendText } from './respond';
import type { ExchangeResult, Route } from './observe';

/** Request duration buckets, seconds: 25 µs to 30 s. */
export const DURATION_BUCKETS = [
  0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/** Size classes for the duration histogram: the smallest bound >= the body size. */
const SIZE_CLASSES: [number, string][] = [
  [0, '0'], [1024, '1KiB'], [16 * 1024, '16KiB'], [64 * 1024, '64KiB'], [256 * 1024, '256KiB'],
  [1024 * 1024, '1MiB'], [16 * 1024 * 1024, '16MiB'], [256 * 1024 * 1024, '256MiB'], [Infinity, '1GiB'],
];

/** Methods named in the method label; anything else (a parser-rejected token) is OTHER. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'CONNECT']);

export function sizeClass(bytes: number): string {
  for (const [bound, name] of SIZE_CLASSES) if (bytes <= bound) return name;
  return '1GiB';
}

export interface Metrics {
  readonly registry: client.Registry;
  /** An exchange has begun (for the in-flight gauge). */
  readonly begin: () => void;
  /** An exchange has ended (finished or aborted). */
  readonly end: (r: ExchangeResult) => void;
  /** A request the HTTP parser rejected: counted, never in flight. */
  readonly rejected: (r: ExchangeResult) => void;
  readonly render: () => Promise<string>;
}

export function createMetrics(version: string): Metrics {
  // Loaded here, only when metrics are on: prom-client costs ~10 MiB of RSS just to load,
  // which a heartbeat without --metrics should not carry.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const prom = require('prom-client') as typeof client;
  const registry = new prom.Registry();
  prom.collectDefaultMetrics({ register: registry });

  const requests = new Map<string, number>(); // "method route status" -> count
  const bodyBytes = new Map<Route, number>();
  const aborted = new Map<Route, number>();
  let uploadBytes = 0;
  let inFlight = 0;

  const fromMap = <K extends string>(m: Map<K, number>, label: (k: K) => Record<string, string>) =>
    function collect(this: client.Counter<string>): void {
      this.reset();
      for (const [k, v] of m) this.inc(label(k), v);
    };

  new prom.Counter({
    name: 'heartbeat_http_requests_total',
    help: 'HTTP requests answered, by method, route (heartbeat, upload, probe, metrics, other) and status.',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
    collect: fromMap(requests, (k) => {
      const [method, route, status] = k.split(' ') as [string, string, string];
      return { method, route, status };
    }),
  });
  const duration = new prom.Histogram({
    name: 'heartbeat_http_request_duration_seconds',
    help: 'Time from request to the end of the response, by route and response size class.',
    labelNames: ['route', 'size'],
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  new prom.Counter({
    name: 'heartbeat_response_body_bytes_total',
    help: 'Response body bytes sent, by route.',
    labelNames: ['route'],
    registers: [registry],
    collect: fromMap(bodyBytes, (route) => ({ route })),
  });
  new prom.Counter({
    name: 'heartbeat_upload_bytes_total',
    help: 'Request body bytes received by the upload route.',
    registers: [registry],
    collect(this: client.Counter) { this.reset(); this.inc(uploadBytes); },
  });
  new prom.Counter({
    name: 'heartbeat_aborted_transfers_total',
    help: 'Responses the client went away from before they were complete, by route.',
    labelNames: ['route'],
    registers: [registry],
    collect: fromMap(aborted, (route) => ({ route })),
  });
  new prom.Gauge({
    name: 'heartbeat_http_requests_in_flight',
    help: 'Requests being answered now.',
    registers: [registry],
    collect(this: client.Gauge) { this.set(inFlight); },
  });
  new prom.Gauge({
    name: 'heartbeat_build_info',
    help: 'Always 1; the labels say which heartbeat and Node.js are running.',
    labelNames: ['version', 'node'],
    registers: [registry],
  }).set({ version, node: process.version }, 1);

  const children = new Map<string, client.Histogram.Internal<string>>();
  const bump = <K>(m: Map<K, number>, k: K, by: number): void => { m.set(k, (m.get(k) ?? 0) + by); };
  const count = (r: ExchangeResult): void =>
    bump(requests, `${METHODS.has(r.method) ? r.method : 'OTHER'} ${r.route} ${r.status}`, 1);

  return {
    registry,
    begin: () => { inFlight++; },
    end: (r: ExchangeResult) => {
      inFlight--;
      count(r);
      bump(bodyBytes, r.route, r.bytesOut);
      if (r.bytesIn) uploadBytes += r.bytesIn;
      if (r.aborted) bump(aborted, r.route, 1);
      const size = sizeClass(r.declared);
      const key = `${r.route} ${size}`;
      let child = children.get(key);
      if (!child) children.set(key, child = duration.labels(r.route, size));
      child.observe(r.durationMs / 1000);
    },
    rejected: count,
    render: () => registry.metrics(),
  };
}

/** Answers a scrape: GET/HEAD only. */
export function serveMetrics(metrics: Metrics, req: http.IncomingMessage, res: http.ServerResponse): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    methodNotAllowed(res, 'GET, HEAD');
    return;
  }
  metrics.render().then(
    (text) => sendText(res, 200, text, { 'Content-Type': metrics.registry.contentType }),
    () => sendText(res, 500, 'metrics unavailable\n'),
  );
}

/** A server of its own for --metrics-port: the metrics path, and 404 for anything else. */
export function metricsServer(metrics: Metrics, path: string, options: http.ServerOptions): http.Server {
  return http.createServer(options, (req, res) => {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    if ((q < 0 ? url : url.slice(0, q)) === path) serveMetrics(metrics, req, res);
    else sendText(res, 404, 'not found\n');
  });
}
