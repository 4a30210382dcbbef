/**
 * The metrics registry (prom-client), opt-in with --metrics: heartbeat's request series, and the
 * process and Node series (src/metrics/runtime.ts). Per request the hot path only bumps plain numbers
 * in maps and one histogram cell; prom-client reads the totals when Prometheus scrapes (collect()),
 * and the histogram is written out by histogram.ts, so the cost stays small. Label values are
 * bounded: route is one of five words, never a path. The scrape's handler is src/http/metrics-endpoint.ts.
 */
import type * as client from 'prom-client';
import type { ExchangeResult, RouteLabel } from '../http/observe';
import { HistogramCell, histogramText } from './histogram';
import { registerRuntimeMetrics } from './runtime';

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


/** What the metrics read from the rest of heartbeat when Prometheus scrapes. */
export interface MetricsSources {
  /** Whether /readyz answers 200 (false once draining has begun). */
  readonly ready: () => boolean;
  /** Log lines dropped so far (stdout backed up past its limit, or gone). */
  readonly logLinesDropped: () => number;
}

/**
 * Series written at 0 from the start, so that queries over them (error ratio, rate of
 * a first increment) have a series to read before the first error: route -> method -> statuses.
 */
const INITIAL_REQUESTS: [RouteLabel, string, number[]][] = [
  ['heartbeat', 'GET', [200, 500]],
  ['upload', 'POST', [200, 500]],
];

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

const ROUTES: RouteLabel[] = ['heartbeat', 'upload', 'health', 'metrics', 'other'];

/** Everything counted for one route: plain numbers, bumped per request. */
class RouteStats {
  /** method -> status -> requests */
  readonly requests = new Map<string, Map<number, number>>();
  bodyBytes = 0;
  aborted = 0;
  /** by size class index (SIZE_CLASSES) */
  readonly durations: (HistogramCell | undefined)[] = [];

  count(method: string, status: number, n = 1): void {
    let byStatus = this.requests.get(method);
    if (!byStatus) this.requests.set(method, byStatus = new Map<number, number>());
    byStatus.set(status, (byStatus.get(status) ?? 0) + n);
  }
}

function sizeIndex(bytes: number): number {
  let i = 0;
  while (i < SIZE_CLASSES.length - 1 && bytes > (SIZE_CLASSES[i] as [number, string])[0]) i++;
  return i;
}

export function createMetrics(version: string, sources: MetricsSources): Metrics {
  // Loaded here, only when metrics are on: prom-client costs ~10 MiB of RSS just to load,
  // which a heartbeat without --metrics should not carry.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const prom = require('prom-client') as typeof client;
  const registry = new prom.Registry();
  registerRuntimeMetrics(prom, registry);

  const stats = Object.fromEntries(ROUTES.map((r) => [r, new RouteStats()])) as Record<RouteLabel, RouteStats>;
  for (const [route, method, statuses] of INITIAL_REQUESTS) {
    for (const status of statuses) stats[route].count(method, status, 0);
  }
  let uploadBytes = 0;
  let inFlight = 0;

  /** A counter whose values are read from `stats` when Prometheus scrapes; zeros are written too. */
  const counter = (name: string, help: string, labelNames: string[], fill: (inc: (labels: Record<string, string>, v: number) => void) => void): void => {
    new prom.Counter({
      name, help, labelNames, registers: [registry],
      collect(this: client.Counter<string>) {
        this.reset();
        fill((labels, v) => this.inc(labels, v));
      },
    });
  };
  counter('heartbeat_http_requests_total',
    'HTTP requests answered, by method, route (heartbeat, upload, health, metrics, other) and status.',
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

  counter('heartbeat_log_lines_dropped_total',
    'Log lines dropped because stdout was backed up past its limit (or gone): the log pipeline is not keeping up.',
    [], (inc) => inc({}, sources.logLinesDropped()));

  // The histogram's cells are ours (a prom-client observe() with labels costs ~0.3 us a request),
  // and so is its exposition text, appended to what the registry writes (see histogram.ts).
  const durationsText = (): string => {
    const cells: [Record<string, string>, HistogramCell][] = [];
    for (const route of ROUTES) {
      stats[route].durations.forEach((cell, i) => {
        if (cell) cells.push([{ route, size: (SIZE_CLASSES[i] as [number, string])[1] }, cell]);
      });
    }
    return histogramText('heartbeat_http_request_duration_seconds',
      'Time from request to the end of the response, of requests answered 1xx-3xx and sent in full, by route and response size class.',
      DURATION_BUCKETS, cells);
  };

  new prom.Gauge({
    name: 'heartbeat_http_requests_in_flight',
    help: 'Requests being answered now.',
    registers: [registry],
    collect(this: client.Gauge) { this.set(inFlight); },
  });
  new prom.Gauge({
    name: 'heartbeat_ready',
    help: '1 while /readyz answers 200, 0 once draining has begun (it answers 503).',
    registers: [registry],
    collect(this: client.Gauge) { this.set(sources.ready() ? 1 : 0); },
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
      rs.bodyBytes += r.bytes_out;
      if (r.bytes_in) uploadBytes += r.bytes_in;
      if (r.aborted) rs.aborted++;
      // Latency is the latency of answers: a flood of fast 400s must not make heartbeat look
      // fast, nor a client that went away make it look slow. Those are counted above.
      else if (r.status < 400) {
        const i = sizeIndex(r.declared);
        (rs.durations[i] ??= new HistogramCell(DURATION_BUCKETS)).observe(r.duration_ms / 1000);
      }
    },
    rejected: (r: ExchangeResult) => stats[r.route].count(methodLabel(r.method), r.status),
    // The registry's text ends with a newline; families are separated by a blank line.
    render: async () => `${await registry.metrics()}\n${durationsText()}`,
  };
}
