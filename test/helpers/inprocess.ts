/** An in-process heartbeat for supertest: the real server object with a log sink instead of stdout. */
import { PassThrough } from 'node:stream';
import { defaults, type Config } from '../../src/config/schema';
import { createLogger } from '../../src/log/logger';
import { createServer, type HeartbeatServer } from '../../src/http/server';

export interface InProcess {
  hb: HeartbeatServer;
  /** Lines the logger has written so far (after flush). */
  lines: string[];
  flush(): Promise<void>;
}

export function inProcess(overrides: Partial<Config> = {}, version = '9.9.9-test'): InProcess {
  const config: Config = { ...defaults(), ...overrides };
  const out = new PassThrough();
  const lines: string[] = [];
  let partial = '';
  out.on('data', (c: Buffer) => {
    const parts = (partial + c.toString()).split('\n');
    partial = parts.pop() as string;
    lines.push(...parts);
  });
  const logger = createLogger({ format: config.logFormat, requests: config.log, out, err: new PassThrough() });
  const hb = createServer(config, logger, version);
  return { hb, lines, flush: () => logger.close() };
}
