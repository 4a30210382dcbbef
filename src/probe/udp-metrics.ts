/**
 * Probe mode, UDP: `heartbeat_udp_probe_*`, per neighbour (target, peer, and the peer's family: ipv4 | ipv6): datagrams sent, lost by
 * direction (out, back, unknown), the answers' round trips (a histogram) and the last round's
 * jitter. Series follow the neighbour set as the TCP probe's do (src/probe/metrics.ts): a pair out
 * of the set for FORGET_AFTER_ROUNDS rounds loses its series, so a mesh costs O(K) series.
 */
import type * as client from 'prom-client';
import type { UdpRecord } from '../log/format';
import { FORGET_AFTER_ROUNDS, PROBE_BUCKETS } from './metrics';

export const DIRECTIONS = ['out', 'back', 'unknown'] as const;

export interface UdpMetrics {
  /** One peer's round ended: its line, and the round trips of its answers (ms). */
  record(line: UdpRecord, rttsMs: number[]): void;
  /** A round ended; `pairs`: its neighbours (`${target}\t${peer}`). Forgets pairs out of the set too long. */
  endRound(pairs: Set<string>): void;
}

export function createUdpMetrics(registry: client.Registry): UdpMetrics {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const prom = require('prom-client') as typeof client;
  const sent = new prom.Counter({
    name: 'heartbeat_udp_probe_sent_total',
    help: 'Echo datagrams (UDP, probeUdp) this heartbeat sent to each neighbour, by target, peer and family.',
    labelNames: ['target', 'peer', 'family'],
    registers: [registry],
  });
  const lost = new prom.Counter({
    name: 'heartbeat_udp_probe_lost_total',
    help: "Echo datagrams lost, by target, peer, family and direction: out (never reached the peer, by its count), back (the peer counted it, its answer did not come), unknown (the peer's count never came).",
    labelNames: ['target', 'peer', 'family', 'direction'],
    registers: [registry],
  });
  const rtt = new prom.Histogram({
    name: 'heartbeat_udp_probe_rtt_seconds',
    help: 'Round trip of each answered echo datagram, by target, peer and family.',
    labelNames: ['target', 'peer', 'family'],
    buckets: PROBE_BUCKETS,
    registers: [registry],
  });
  const jitter = new prom.Gauge({
    name: 'heartbeat_udp_probe_jitter_seconds',
    help: 'RFC 3550 interarrival jitter of the answers in the last round, by target, peer and family.',
    labelNames: ['target', 'peer', 'family'],
    registers: [registry],
  });

  let round = 0;
  const pairs = new Map<string, { target: string; peer: string; family: string; lastRound: number }>();

  return {
    record(line: UdpRecord, rttsMs: number[]): void {
      const labels = { target: line.target, peer: line.peer, family: line.family };
      const key = `${line.target}\t${line.peer}`;
      if (!pairs.has(key)) {
        // every direction from the start, so rate() over them has a series before the first loss
        for (const direction of DIRECTIONS) lost.inc({ ...labels, direction }, 0);
      }
      pairs.set(key, { ...labels, lastRound: round });
      sent.inc(labels, line.sent);
      lost.inc({ ...labels, direction: 'out' }, line.lost_out);
      lost.inc({ ...labels, direction: 'back' }, line.lost_back);
      lost.inc({ ...labels, direction: 'unknown' }, line.lost_unknown);
      for (const ms of rttsMs) rtt.observe(labels, ms / 1000);
      jitter.set(labels, line.jitter_ms / 1000);
    },
    endRound(current: Set<string>): void {
      for (const [key, p] of pairs) {
        if (current.has(key)) p.lastRound = round;
        else if (round - p.lastRound >= FORGET_AFTER_ROUNDS) {
          pairs.delete(key);
          const labels = { target: p.target, peer: p.peer, family: p.family };
          sent.remove(labels);
          for (const direction of DIRECTIONS) lost.remove({ ...labels, direction });
          rtt.remove(labels);
          jitter.remove(labels);
        }
      }
      round++;
    },
  };
}
