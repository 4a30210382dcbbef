/** The metrics path (`metricsPath`, --metrics): a scrape of the registry (src/metrics/registry.ts), GET/HEAD only. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Metrics } from '../metrics/registry';
import { READ_ONLY_METHODS } from './paths';
import { methodNotAllowed, sendText } from './respond';

export function serveMetrics(metrics: Metrics, req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    methodNotAllowed(res, READ_ONLY_METHODS);
    return;
  }
  metrics.render().then(
    (text) => sendText(res, 200, text, { 'Content-Type': metrics.registry.contentType }),
    () => sendText(res, 500, 'metrics unavailable\n'),
  );
}
