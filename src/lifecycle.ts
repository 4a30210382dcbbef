/**
 * Process lifecycle: SIGTERM/SIGINT start a graceful shutdown; an unexpected
 * error is logged loudly and ends the process non-zero so the orchestrator
 * restarts it. Every line logged before exit is flushed to stdout first.
 */
import type { AppLogger } from './log/logger';
import type { HeartbeatServer } from './server';

/** Hard stop if flushing the log hangs (a stuck stdout reader) after a crash. */
const CRASH_EXIT_MS = 5000;

export function installLifecycle(hb: HeartbeatServer, logger: AppLogger): void {
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info('shutdown begun', { signal });
    void hb.shutdown().then(async () => {
      logger.info('shutdown done', {});
      await logger.close();
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  let crashed = false;
  const crash = (kind: string) => (err: unknown): void => {
    if (crashed) return;
    crashed = true;
    const e = err instanceof Error ? err : new Error(String(err));
    logger.error(kind, { error: e.message, stack: e.stack });
    setTimeout(() => process.exit(1), CRASH_EXIT_MS).unref();
    void logger.close(CRASH_EXIT_MS).then(() => process.exit(1));
  };
  process.on('uncaughtException', crash('uncaught exception'));
  process.on('unhandledRejection', crash('unhandled rejection'));
}
