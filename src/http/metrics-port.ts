/**
 * The server of `--metrics-port`: the metrics path (with --metrics), the status page (with --status),
 * and 404 for anything else. Not observed: scrapes are not heartbeat's traffic.
 */
import http from 'node:http';
import type { Metrics } from '../metrics/registry';
import { serveMetrics } from './metrics-endpoint';
import { pathOf, sendText } from './respond';

export function metricsServer(
  metrics: Metrics | undefined, path: string, options: http.ServerOptions,
  also?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean,
): http.Server {
  return http.createServer(options, (req, res) => {
    if (also?.(req, res)) return;
    if (metrics && pathOf(req.url ?? '') === path) serveMetrics(metrics, req, res);
    else sendText(res, 404, 'not found\n');
  });
}
