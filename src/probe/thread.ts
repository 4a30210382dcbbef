/**
 * The probing thread (a worker_thread started by src/probe/prober.ts): the clock, the rounds
 * and every probe run here, on an event loop of their own, so a busy server never queues ahead
 * of a probe's socket events. Nothing is logged or counted here: each probe line, lifecycle line
 * and metric update is posted to the main thread, which writes and counts it as it always did.
 * Messages in: `{ t: 'stop', deadlineMs }`. Out: `probe`, `udp`, `log`, `metric`, `udpMetric`, and `stopped` last.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Config } from '../config/schema';
import type { ProbeRecord, UdpRecord } from '../log/format';
import type { UdpMetrics } from './udp-metrics';
import type { ProbeMetrics } from './metrics';
import { createScheduler, type ProbeLog } from './scheduler';
import { createSelfCheck } from './self';

export interface ThreadData {
  config: Config;
  version: string;
  /** Whether metric updates are wanted (--metrics). */
  metrics: boolean;
}

type Level = 'info' | 'warn' | 'error';
export type FromThread =
  | { t: 'probe'; line: ProbeRecord }
  | { t: 'udp'; line: UdpRecord }
  | { t: 'udpMetric'; op: keyof UdpMetrics; args: unknown[] }
  | { t: 'log'; level: Level; message: string; details?: Record<string, unknown> }
  | { t: 'metric'; op: keyof ProbeMetrics; args: unknown[] }
  | { t: 'stopped' };
export type ToThread = { t: 'stop'; deadlineMs: number };

const port = parentPort;
if (port) {
  const data = workerData as ThreadData;
  const post = (m: FromThread): void => port.postMessage(m);
  const logger: ProbeLog = {
    probe: (line) => post({ t: 'probe', line }),
    udp: (line) => post({ t: 'udp', line }),
    info: (message, details) => post({ t: 'log', level: 'info', message, details }),
    warn: (message, details) => post({ t: 'log', level: 'warn', message, details }),
    error: (message, details) => post({ t: 'log', level: 'error', message, details }),
  };
  const relay = (op: keyof ProbeMetrics) => (...args: unknown[]): void => post({ t: 'metric', op, args });
  const metrics: ProbeMetrics | undefined = data.metrics
    ? { record: relay('record'), pathLimit: relay('pathLimit'), peers: relay('peers'), begin: relay('begin'), endRound: relay('endRound') }
    : undefined;
  const relayUdp = (op: keyof UdpMetrics) => (...args: unknown[]): void => post({ t: 'udpMetric', op, args });
  const udpMetrics: UdpMetrics | undefined = data.metrics && data.config.probeUdp > 0
    ? { record: relayUdp('record'), endRound: relayUdp('endRound') }
    : undefined;
  const scheduler = createScheduler({ config: data.config, logger, version: data.version, metrics, udpMetrics, self: createSelfCheck() });
  port.on('message', (m: ToThread) => {
    if (m.t === 'stop') void scheduler.stop(m.deadlineMs).then(() => post({ t: 'stopped' }));
  });
  scheduler.start();
}
