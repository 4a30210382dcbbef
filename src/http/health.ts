/**
 * The health endpoints for the orchestrator (/healthz, /readyz) and the version: GET/HEAD only, plain
 * text, never cached. Plain node:http handlers like the heartbeat route, so that serving the kubelet's
 * probes never loads Express (src/http/server.ts loads the app only for the first request that needs it).
 * The bodies are the Go server's, byte for byte (its healthz/readyz/version handlers write `Pass\n`,
 * `Ready\n` and the version with `\n`), so monitors written against it still match.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { READ_ONLY_METHODS } from './paths';
import { methodNotAllowed, sendText } from './respond';

/** What /readyz reads (the kubelet's readiness check). */
export interface HealthState {
  /** False once shutdown has begun: /readyz then answers 503 so traffic moves elsewhere. */
  readonly ready: boolean;
}

/** Answers a request for `path`, one of HEALTH_PATHS (query string already stripped). */
export function answerHealth(req: IncomingMessage, res: ServerResponse, path: string, state: HealthState, version: string): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') return methodNotAllowed(res, READ_ONLY_METHODS);
  if (path === '/healthz') sendText(res, 200, 'Pass\n');
  else if (path === '/readyz') sendText(res, state.ready ? 200 : 503, state.ready ? 'Ready\n' : 'shutting down\n');
  else sendText(res, 200, `${version}\n`);
}
