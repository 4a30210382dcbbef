/**
 * Probe mode's clock, on the probing thread (src/probe/thread.ts): a round every
 * probeInterval, each started after a random jitter of up to 10% of the interval so
 * a fleet started together does not probe in lockstep. A round resolves the targets
 * and starts its neighbours' probes, each in its own slot (src/probe/round.ts):
 * rounds come at their interval whatever one peer does. Stopping (SIGTERM) starts no
 * new round or probe at once; probes still running are aborted at the drain deadline
 * and logged as `aborted`.
 */
import net from 'node:net';
import os from 'node:os';
import type { Config } from '../config/schema';
import type { AppLogger } from '../log/logger';
import { IdleConnections } from './pool';
import type { ProbeMetrics } from './metrics';
import { createMtuChecker, MTU_STALL_MS } from './mtu';
import { ownAddresses, plainAddress, systemLookup, type Lookup } from './resolve';
import { createRounds } from './round';
import type { SelfCheck } from './self';
import { parseTarget } from './settings';
import { probeContext } from './tls';
import type { UdpMetrics } from './udp-metrics';
import { createUdpProber } from './udp-round';

export const JITTER = 0.1;

/** What the probing thread writes: probe, udp and lifecycle lines (the main thread's logger, relayed). */
export type ProbeLog = Pick<AppLogger, 'probe' | 'udp' | 'info' | 'warn' | 'error'>;

/** Echo datagrams are spread over this share of the interval, leaving the rest for their answers and the count. */
export const UDP_SPAN = 0.5;
/** Each echo datagram waits at most this long for its answer (and at most probeTimeout). */
export const UDP_WAIT_MS = 1000;

export interface Scheduler {
  start(): void;
  /** Stops probing; resolves once every probe has ended and been logged (aborted after `deadlineMs`). */
  stop(deadlineMs: number): Promise<void>;
}

export interface SchedulerOptions {
  config: Config;
  logger: ProbeLog;
  version: string;
  /** The probe metrics (with --metrics). */
  metrics?: ProbeMetrics;
  /** The UDP echo metrics (with --metrics and probeUdp). */
  udpMetrics?: UdpMetrics;
  lookup?: Lookup;
  /** The probing thread's self-check: each line's self_ms. */
  self?: SelfCheck;
}

/** The probing of these settings (probeTargets not empty), on the thread it is made on. */
export function createScheduler(o: SchedulerOptions): Scheduler {
  const { config } = o;
  const targets = config.probeTargets.map(parseTarget);
  const pool = config.probeConnection === 'reuse' ? new IdleConnections() : undefined;
  const https = targets.some((t) => t.scheme === 'https');
  const userAgent = `heartbeat-probe/${o.version}`;
  // each wire probe of a path-MTU check waits at most this long without a byte (docs/mtu.md)
  const mtu = config.probeMtuProbes > 0
    ? createMtuChecker({ probes: config.probeMtuProbes, stallMs: Math.min(config.probeTimeout, MTU_STALL_MS), userAgent })
    : undefined;
  // probeUdp: echo datagrams to the same neighbours each round (src/probe/udp-round.ts)
  const udp = config.probeUdp > 0
    ? createUdpProber({
      datagrams: config.probeUdp,
      spanMs: config.probeInterval * UDP_SPAN,
      waitMs: Math.min(config.probeTimeout, UDP_WAIT_MS),
      logger: o.logger,
      metrics: o.udpMetrics,
      self: o.self,
    })
    : undefined;
  const rounds = createRounds({
    udp,
    targets,
    sizes: config.probeSizes,
    upload: config.probeUpload,
    timeoutMs: config.probeTimeout,
    maxPeers: config.probeMaxPeers,
    intervalMs: config.probeInterval,
    userAgent,
    mtu,
    // the address it listens on is its own too (an address of 127/8, routed to lo, is no interface's)
    own: { addresses: new Set([...ownAddresses(), ...(net.isIP(config.host) ? [plainAddress(config.host)] : [])]), port: config.port },
    selfKey: `${os.hostname()}:${config.port}`,
    lookup: o.lookup ?? systemLookup,
    logger: o.logger,
    metrics: o.metrics,
    pool,
    tls: https ? { context: probeContext(config.probeTlsCa), verify: !config.probeTlsInsecure } : undefined,
    self: o.self,
  });
  const interval = config.probeInterval;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<void> | undefined;
  let stopping = false;
  let t0 = 0;
  let slot = 0;

  const schedule = (): void => {
    if (stopping) return;
    const now = Date.now();
    const due = t0 + slot * interval;
    timer = setTimeout(runRound, Math.max(0, due - now) + Math.random() * JITTER * interval);
  };

  const runRound = (): void => {
    timer = undefined;
    current = rounds.run().catch((e: unknown) => {
      o.logger.error('probe round failed', { error: e instanceof Error ? e.message : String(e) });
    }).finally(() => {
      current = undefined;
      slot = Math.max(slot + 1, Math.floor((Date.now() - t0) / interval) + 1);
      schedule();
    });
  };

  return {
    start(): void {
      t0 = Date.now();
      o.logger.info('probing', {
        targets: config.probeTargets, interval, sizes: config.probeSizes, upload: config.probeUpload,
        timeout: config.probeTimeout, maxPeers: config.probeMaxPeers, connection: config.probeConnection, mtuProbes: config.probeMtuProbes, udp: config.probeUdp,
        ...(https ? { tlsCa: config.probeTlsCa, tlsInsecure: config.probeTlsInsecure } : {}),
      });
      if (config.probeTlsInsecure) {
        o.logger.warn('probe certificates are not checked (probeTlsInsecure): any peer, or anyone on the path, passes as an https target', {
          targets: targets.filter((t) => t.scheme === 'https').map((t) => t.name),
        });
      }
      schedule();
    },
    async stop(deadlineMs: number): Promise<void> {
      stopping = true;
      clearTimeout(timer);
      rounds.stop();
      const deadline = setTimeout(() => rounds.abortRunning(), deadlineMs);
      await current;
      await rounds.idle();
      clearTimeout(deadline);
      pool?.closeAll();
      udp?.close();
    },
  };
}
