#!/usr/bin/env node
/** The `heartbeat` command: read the settings, start the server, log what it does. */
import { helpText } from './config/help';
import { ConfigError, loadConfig } from './config/load';
import { installLifecycle } from './lifecycle';
import { createLogger } from './log/logger';
import { createProber } from './probe/scheduler';
import { createServer } from './server';
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

  const { config, sources } = loaded;
  const logger = createLogger({ format: config.logFormat, requests: config.log });
  logger.info('starting', { version, node: process.version, pid: process.pid, config, sources });
  const hb = createServer(config, logger, version);
  // Probe mode (off unless probeTargets are set): stopped with the server, aborted at the drain deadline.
  const prober = createProber({ config, logger, version, registry: hb.metrics?.registry });
  installLifecycle(prober ? {
    shutdown: async () => { await Promise.all([prober.stop(config.drainTimeout), hb.shutdown()]); },
  } : hb, logger);
  try {
    const addr = await hb.listen();
    logger.info('listening', { address: addr.address, port: addr.port, uri: config.uri });
    prober?.start();
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    logger.error('cannot listen', { port: config.port, host: config.host, error: err.code ?? err.message });
    await logger.close();
    process.exit(EXIT_START);
  }
}

void main();
