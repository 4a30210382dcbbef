/**
 * Probe mode on the main thread: starts the probing thread (src/probe/thread.ts, a
 * worker_thread with its own event loop) and does what it asks: writes its probe and
 * lifecycle lines with the one logger, counts its metrics in the one registry, hands every
 * probe line to the phase histogram and the status page. Then it lowers the serving thread's
 * own CPU priority (Linux: per thread, `nice` +10 for this thread only), so where the two
 * threads want the same CPU the probing one is served first and its timestamps stay close
 * to the wire (docs/probe.md, "How true are the numbers").
 */
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type * as client from 'prom-client';
import type { Config } from '../config/schema';
import type { ProbeRecord, UdpRecord } from '../log/format';
import { createUdpMetrics } from './udp-metrics';
import type { AppLogger } from '../log/logger';
import { createProbeMetrics } from './metrics';
import { createPhaseMetrics } from './phase-metrics';
import type { FromThread, ThreadData, ToThread } from './thread';

/** How much the serving thread's niceness is raised once the probing thread runs (Linux only). */
export const SERVING_NICENESS = 10;

export interface Prober {
  start(): void;
  /** Stops probing; resolves once every probe has ended and been logged (aborted after `deadlineMs`). */
  stop(deadlineMs: number): Promise<void>;
}

export interface ProberOptions {
  config: Config;
  logger: AppLogger;
  version: string;
  /** The registry --metrics serves, when it is on. */
  registry?: client.Registry;
  /** Hears every probe line (the status page's probe book, with --status). */
  onProbe?: (line: ProbeRecord) => void;
  /** Hears every udp line (the status page's probe book, with --status). */
  onUdp?: (line: UdpRecord) => void;
}

/** The prober for these settings, or undefined when probeTargets is empty (probing off). */
export function createProber(o: ProberOptions): Prober | undefined {
  if (o.config.probeTargets.length === 0) return undefined;
  const metrics = o.registry ? createProbeMetrics(o.registry) : undefined;
  const udpMetrics = o.registry && o.config.probeUdp > 0 ? createUdpMetrics(o.registry) : undefined;
  // every probe line: the phase histogram (with --metrics) and the status page (with --status)
  const hear = [o.registry ? createPhaseMetrics(o.registry).record : undefined, o.onProbe].filter((f) => f !== undefined);
  let worker: Worker | undefined;
  let stopped: Promise<void> | undefined;
  let ended: () => void = () => undefined;
  const exited = new Promise<void>((r) => { ended = r; });

  const onMessage = (m: FromThread): void => {
    if (m.t === 'probe') {
      o.logger.probe(m.line);
      for (const f of hear) f(m.line);
    } else if (m.t === 'udp') {
      o.logger.udp(m.line);
      o.onUdp?.(m.line);
    } else if (m.t === 'udpMetric' && udpMetrics) (udpMetrics[m.op] as (...a: unknown[]) => void)(...m.args);
    else if (m.t === 'log') o.logger[m.level](m.message, m.details);
    else if (m.t === 'metric' && metrics) (metrics[m.op] as (...a: unknown[]) => void)(...m.args);
  };

  return {
    start(): void {
      const data: ThreadData = { config: o.config, version: o.version, metrics: metrics !== undefined };
      worker = new Worker(path.join(__dirname, 'thread.js'), { workerData: data });
      worker.on('message', onMessage);
      worker.on('error', (e) => o.logger.error('probing thread failed', { error: e.message }));
      worker.on('exit', () => ended());
      worker.once('online', () => {
        if (process.platform !== 'linux') return; // elsewhere setPriority(0) is the whole process
        try {
          os.setPriority(0, Math.min(19, os.getPriority(0) + SERVING_NICENESS));
        } catch {
          // not allowed here: the probing thread simply shares the CPU evenly
        }
      });
    },
    stop(deadlineMs: number): Promise<void> {
      if (!worker) return Promise.resolve();
      const w = worker;
      stopped ??= new Promise<void>((resolve) => {
        const onStopped = (m: FromThread): void => {
          if (m.t !== 'stopped') return;
          w.off('message', onStopped);
          void w.terminate().then(() => resolve());
        };
        w.on('message', onStopped);
        void exited.then(resolve); // a thread that died has nothing left to stop
        w.postMessage({ t: 'stop', deadlineMs } satisfies ToThread);
      });
      return stopped;
    },
  };
}
