/**
 * Probes for the orchestrator, and the version: GET/HEAD only, plain text, never cached.
 * The bodies are the Go server's, byte for byte (its healthz/readyz/version handlers write
 * `Pass\n`, `Ready\n` and the version with `\n`), so monitors written against it still match.
 */
import { Router } from 'express';
import { PROBE_METHODS } from './paths';
import { methodNotAllowed, sendText } from './respond';

export interface ProbeState {
  /** False once shutdown has begun: /readyz then answers 503 so traffic moves elsewhere. */
  readonly ready: boolean;
}

export function probes(state: ProbeState, version: string): Router {
  const router = Router({ caseSensitive: true, strict: true });
  const notAllowed = (_req: unknown, res: Parameters<typeof sendText>[0]): void => methodNotAllowed(res, PROBE_METHODS);

  router.route('/healthz')
    .get((_req, res) => sendText(res, 200, 'Pass\n'))
    .all(notAllowed);
  router.route('/readyz')
    .get((_req, res) => (state.ready ? sendText(res, 200, 'Ready\n') : sendText(res, 503, 'shutting down\n')))
    .all(notAllowed);
  router.route('/version')
    .get((_req, res) => sendText(res, 200, `${version}\n`))
    .all(notAllowed);
  return router;
}
