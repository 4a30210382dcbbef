/**
 * Prometheus metrics (prom-client), opt-in with --metrics. Per request the hot
 * path only bumps plain numbers in maps and one histogram child; prom-client
 * reads the totals when Prometheus scrapes (collect()), so the cost stays
 * small. Label values are bounded: route is one of five words, never a path.
 */
import http from 'node:http';
import type * as client from 'prom-client';
import { PROBE_METHODS } from './paths';
import { methodNotAllowed, pathOf, sendText } from './respond';
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

const ROUTES: Route[] = ['heartbeat', 'upload', 'probe', 'metrics', 'other'];

/** One (route, size class) cell of the duration histogram: counts per bucket, +Inf last. */
class DurationCell {
  readonly counts = new Float64Array(DURATION_BUCKETS.length + 1);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > (DURATION_BUCKETS[i] as number)) i++;
    (this.counts[i] as number)++;
    this.sum += seconds;
    this.count++;
  }
}

/** Everything counted for one route: plain numbers, bumped per request. */
class RouteStats {
  /** method -> status -> requests */
  readonly requests = new Map<string, Map<number, number>>();
  bodyBytes = 0;
  aborted = 0;
  /** by size class index (SIZE_CLASSES) */
  readonly durations: (DurationCell | undefined)[] = [];

  count(method: string, status: number): void {
    let byStatus = this.requests.get(method);
    if (!byStatus) this.requests.set(method, byStatus = new Map<number, number>());
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
  }
}

function sizeIndex(bytes: number): number {
  let i = 0;
  while (i < SIZE_CLASSES.length - 1 && bytes > (SIZE_CLASSES[i] as [number, string])[0]) i++;
  return i;
}

export function createMetrics(version: string): Metrics {
  // Loaded here, only when metrics are on: prom-client costs ~10 MiB of RSS just to load,
  // which a heartbeat without --metrics should not carry.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const prom = require('prom-client') as typeof client;
  const registry = new prom.Registry();
  prom.collectDefaultMetrics({ register: registry });

  const stats = Object.fromEntries(ROUTES.map((r) => [r, new RouteStats()])) as Record<Route, RouteStats>;
  let uploadBytes = 0;
  let inFlight = 0;

  /** A counter whose values are read from `stats` when Prometheus scrapes. */
  const counter = (name: string, help: string, labelNames: string[], fill: (inc: (labels: Record<string, string>, v: number) => void) => void): void => {
    new prom.Counter({
      name, help, labelNames, registers: [registry],
      collect(this: client.Counter<string>) {
        this.reset();
        fill((labels, v) => { if (v > 0) this.inc(labels, v); });
      },
    });
  };
  counter('heartbeat_http_requests_total',
    'HTTP requests answered, by method, route (heartbeat, upload, probe, metrics, other) and status.',
    ['method', 'route', 'status'], (inc) => {
      for (const route of ROUTES) {
        for (const [method, byStatus] of stats[route].requests) {
          for (const [status, n] of byStatus) inc({ method, route, status: String(status) }, n);
        }
      }
    });
  counter('heartbeat_response_body_bytes_total', 'Response body bytes sent, by route.', ['route'], (inc) => {
    for (const route of ROUTES) inc({ route }, stats[route].bodyBytes);
  });
  counter('heartbeat_upload_bytes_total', 'Request body bytes received by the upload route.', [], (inc) => inc({}, uploadBytes));
  counter('heartbeat_aborted_transfers_total', 'Responses the client went away from before they were complete, by route.',
    ['route'], (inc) => { for (const route of ROUTES) inc({ route }, stats[route].aborted); });

  // The histogram's cells are ours (a prom-client observe() with labels costs ~0.3 us a request);
  // prom-client formats them, from the values this subclass hands it at scrape time.
  const name = 'heartbeat_http_request_duration_seconds';
  const help = 'Time from request to the end of the response, by route and response size class.';
  type Snapshot = client.MetricObjectWithValues<client.MetricValueWithName<string>>;
  const snapshot = (): Snapshot => {
    const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
    for (const route of ROUTES) {
      stats[route].durations.forEach((cell, i) => {
        if (!cell) return;
        const size = (SIZE_CLASSES[i] as [number, string])[1];
        let acc = 0;
        DURATION_BUCKETS.forEach((le, b) => {
          acc += cell.counts[b] as number;
          values.push({ metricName: `${name}_bucket`, labels: { le, route, size }, value: acc });
        });
        values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf', route, size }, value: cell.count });
        values.push({ metricName: `${name}_sum`, labels: { route, size }, value: cell.sum });
        values.push({ metricName: `${name}_count`, labels: { route, size }, value: cell.count });
      });
    }
    // The shape prom-client's own histograms hand the registry (its typings say less).
    return { name, help, type: 'histogram', values, aggregator: 'sum', collect: () => undefined } as unknown as Snapshot;
  };
  class Durations extends prom.Histogram<string> {
    override get(): Promise<Snapshot> {
      return Promise.resolve(snapshot());
    }

    /** What the registry calls for the text format. */
    getForPromString(): Promise<Snapshot> {
      return this.get();
    }
  }
  new Durations({
    name,
    help,
    labelNames: ['route', 'size'],
    buckets: DURATION_BUCKETS,
    registers: [registry],
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

  const methodLabel = (m: string): string => (METHODS.has(m) ? m : 'OTHER');

  return {
    registry,
    begin: () => { inFlight++; },
    end: (r: ExchangeResult) => {
      inFlight--;
      const rs = stats[r.route];
      rs.count(methodLabel(r.method), r.status);
      rs.bodyBytes += r.bytesOut;
      if (r.bytesIn) uploadBytes += r.bytesIn;
      if (r.aborted) rs.aborted++;
      const i = sizeIndex(r.declared);
      (rs.durations[i] ??= new DurationCell()).observe(r.durationMs / 1000);
    },
    rejected: (r: ExchangeResult) => stats[r.route].count(methodLabel(r.method), r.status),
    render: () => registry.metrics(),
  };
}

/** Answers a scrape: GET/HEAD only. */
export function serveMetrics(metrics: Metrics, req: http.IncomingMessage, res: http.ServerResponse): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    methodNotAllowed(res, PROBE_METHODS);
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
    if (pathOf(req.url ?? '') === path) serveMetrics(metrics, req, res);
    else sendText(res, 404, 'not found\n');
  });
}
