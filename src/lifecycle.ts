/**
 * Process lifecycle: SIGTERM/SIGINT start a graceful shutdown; an unexpected
 * error is logged loudly and ends the process non-zero so the orchestrator
 * restarts it. Every line logged before exit is flushed to stdout first.
 */
import type { AppLogger } from './log/logger';
import type { HeartbeatServer } from './http/server';

/** Hard stop if flushing the log hangs (a stuck stdout reader) after a crash. */
const CRASH_EXIT_MS = 5000;
/** How often heartbeat, when npm started it, checks that what started it is still there. */
const PARENT_CHECK_MS = 1000;

export function installLifecycle(hb: Pick<HeartbeatServer, 'shutdown'>, logger: AppLogger): void {
  let stopping = false;
  let crashed = false;
  const stop = (signal: string): void => {
    if (crashed) return;
    if (stopping) {
      // A second signal (Ctrl-C twice): stop waiting for the drain.
      logger.warn('second signal: exiting without waiting for the drain', { signal });
      void logger.close(1000).then(() => process.exit(1));
      return;
    }
    stopping = true;
    logger.info('shutdown begun', { signal });
    void hb.shutdown().then(async () => {
      if (crashed) return;
      logger.info('shutdown done', {});
      await logger.close();
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // `npx heartbeat` runs the command under `sh -c`; a SIGTERM to npx reaches that shell, which dies without passing
  // it on, and heartbeat would serve on as an orphan. Started by npm (npm_command in its environment), heartbeat
  // watches its parent: once it is gone (heartbeat re-parented), it shuts down as on SIGTERM.
  if (process.env.npm_command) {
    const parent = process.ppid;
    const watch = setInterval(() => {
      if (process.ppid === parent) return;
      clearInterval(watch);
      stop('parent exited');
    }, PARENT_CHECK_MS).unref();
  }

  const crash = (kind: string) => (err: unknown): void => {
    if (crashed) return;
    crashed = true;
    const e = err instanceof Error ? err : new Error(String(err));
    logger.error(kind, { error: e.message, stack: e.stack });
    // Also on stderr, like every fatal error: stdout may be a file or a pipe nobody watches.
    process.stderr.write(`heartbeat: ${kind}: ${e.message}\n`);
    setTimeout(() => process.exit(1), CRASH_EXIT_MS).unref();
    void logger.close(CRASH_EXIT_MS).then(() => process.exit(1));
  };
  process.on('uncaughtException', crash('uncaught exception'));
  process.on('unhandledRejection', crash('unhandled rejection'));
}
