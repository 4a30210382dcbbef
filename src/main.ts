#!/usr/bin/env -S node --max-old-space-size=48 --max-semi-space-size=1 --expose-gc
/**
 * The `heartbeat` command: read the settings, start the server, log what it does.
 * The shebang carries the image's Node flags (the Dockerfile's ENTRYPOINT; test/npm-start.test.ts keeps them
 * equal), so `npx heartbeat` and the installed command run as the image does: the upload reclaim on.
 */
import { helpText } from './config/help';
import { ConfigError, loadConfig } from './config/load';
import { installLifecycle } from './lifecycle';
import { ListenError } from './http/listen';
import { createLogger } from './log/logger';
import { createServer } from './http/server';
import { reclaiming } from './http/reclaim';
import { readVersion } from './version';

/** Exit code for a usage or configuration error (nothing was started). */
const EXIT_CONFIG = 2;
const EXIT_START = 1;

async function main(): Promise<void> {
  const version = readVersion();
  let loaded;
  try {
    loaded = loadConfig(process.argv.slice(2), process.env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const lines = e.message.split('\n').map((l) => `heartbeat: ${l}\n`).join('');
    process.stderr.write(`${lines}Run heartbeat --help for every setting.\n`);
    process.exitCode = EXIT_CONFIG;
    return;
  }
  if (loaded.kind === 'help') return void process.stdout.write(helpText(version));
  if (loaded.kind === 'version') return void process.stdout.write(`${version}\n`);

  const { config, sources, warnings } = loaded;
  const logger = createLogger({ format: config.logFormat, requests: config.log });
  // Settings that do nothing are said in the starting line (a warning then) and on stderr.
  for (const w of warnings) process.stderr.write(`heartbeat: warning: ${w}\n`);
  logger[warnings.length > 0 ? 'warn' : 'info']('starting', {
    version, node: process.version, pid: process.pid, reclaim: reclaiming, config, sources, ...(warnings.length > 0 ? { warnings } : {}),
  });
  const hb = createServer(config, logger, version);
  // Probe mode (off unless probeTargets are set): stopped with the server, aborted at the drain deadline.
  // Its modules are loaded only then.
  const prober = config.probeTargets.length > 0
    ? (await import('./probe/scheduler')).createProber({ config, logger, version, registry: hb.metrics?.registry, onProbe: hb.status?.book.record, onUdp: hb.status?.udp.record })
    : undefined;
  installLifecycle(prober ? {
    shutdown: async () => { await Promise.all([prober.stop(config.drainTimeout), hb.shutdown()]); },
  } : hb, logger);
  try {
    const at = await hb.listen();
    logger.info('listening', { listener: 'heartbeat', address: at.heartbeat.address, port: at.heartbeat.port, uri: config.uri });
    if (at.metrics) {
      // what that port serves: the metrics path (--metrics) and/or the status page (--status)
      logger.info('listening', {
        listener: 'metrics', address: at.metrics.address, port: at.metrics.port,
        ...(config.metrics ? { path: config.metricsPath } : {}), ...(config.status ? { status: '/status' } : {}),
      });
    }
    if (at.udp) logger.info('listening', { listener: 'udp', address: at.udp.address, port: at.udp.port });
    prober?.start();
  } catch (e) {
    if (!(e instanceof ListenError)) throw e;
    logger.error('cannot listen', { listener: e.listener, port: e.port, host: e.host, error: e.code });
    // Also on stderr: stdout is often a log file or a pipe nobody is watching at start-up.
    process.stderr.write(`heartbeat: ${e.message}\n`);
    await logger.close();
    process.exit(EXIT_START);
  }
}

void main();
