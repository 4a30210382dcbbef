/**
 * Probe mode's Prometheus metrics, in the registry src/metrics/registry.ts makes (with
 * --metrics). Series follow the neighbour set (src/probe/neighbours.ts): a
 * pair's series are never reset while it stays a neighbour; a pair that leaves
 * the set loses every series after FORGET_AFTER_ROUNDS rounds out of it; a
 * target whose name did not resolve this round ages none of its pairs (a DNS
 * failure never evicts a pair). Every neighbour has a last-success series from
 * the round it joins, 0 until its first ok probe. Every per-pair series carries the pair's `family`
 * (ipv4 | ipv6, as the lines spell it; `-` for a target whose name did not resolve): a peer address
 * has one family, so the label adds no series; a dual-stack target's two families are told apart.
 */
import net from 'node:net';
import type * as client from 'prom-client';
import type { Outcome } from './check';

/** Probe durations, seconds: 0.5 ms (loopback) to 30 s. */
export const PROBE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
export const FORGET_AFTER_ROUNDS = 10;

/**
 * The `family` label of a peer as labelled (`address:port`, `[v6]:port`): the family of its address,
 * as the probe and udp lines spell it; `-` when it is no address (the target's host:port when DNS failed).
 */
export function familyLabel(peer: string): 'ipv4' | 'ipv6' | '-' {
  if (peer.startsWith('[')) return 'ipv6';
  return net.isIPv4(peer.slice(0, peer.lastIndexOf(':'))) ? 'ipv4' : '-';
}

export interface ProbeSample {
  target: string;
  peer: string;
  method: string;
  /** As written in probeSizes: `1024`, or `1400w` for a wire size. */
  size: number | string;
  outcome: Outcome;
  totalMs: number;
  /** The TLS handshake of a new https connection (0: none made). */
  tlsMs: number;
  /** The prober's own delay during the probe (self_ms). */
  selfMs: number;
}

export interface ProbeMetrics {
  /** One probe ended. */
  record(s: ProbeSample): void;
  /** The pair's path limit (src/probe/mtu.ts): the largest answer that crossed in its last check, 0 when none holds. */
  pathLimit(target: string, peer: string, bytes: number): void;
  /** How many addresses `target` resolved to this round (own ones left out). */
  peers(target: string, count: number): void;
  /** A round's neighbours (`${target}\t${peer}`) are chosen: each has a last-success series from now on (0 until an ok). */
  begin(neighbours: Set<string>): void;
  /**
   * A round ended. `neighbours`: this round's pairs (`${target}\t${peer}`); `unresolved`: targets whose
   * name did not resolve this round (their pairs do not age). Forgets pairs out of the set too long.
   */
  endRound(neighbours: Set<string>, unresolved: Set<string>): void;
}

interface PairSeries {
  target: string;
  peer: string;
  family: string;
  /** Last round the pair was a neighbour (or its target unresolved). */
  lastRound: number;
  /** label sets used: `${method}\t${size}\t${outcome}` (counter) and `${method}\t${size}` (histogram) */
  counted: Set<string>;
  timed: Set<string>;
  /** Whether the pair has a TLS handshake series. */
  handshaken: boolean;
  /** Whether the pair's path-limit series exists. */
  limited?: boolean;
}

export function createProbeMetrics(registry: client.Registry): ProbeMetrics {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const prom = require('prom-client') as typeof client;
  const probes = new prom.Counter({
    name: 'heartbeat_probes_total',
    help: 'Probes this heartbeat made of its peers, by target (as configured), peer (address:port), family (ipv4 or ipv6), method (GET or POST for the upload), size in bytes and outcome.',
    labelNames: ['target', 'peer', 'family', 'method', 'size', 'outcome'],
    registers: [registry],
  });
  const duration = new prom.Histogram({
    name: 'heartbeat_probe_duration_seconds',
    help: 'Time from connect to last byte of the probes that ended ok, by target, peer, family, method and size.',
    labelNames: ['target', 'peer', 'family', 'method', 'size'],
    buckets: PROBE_BUCKETS,
    registers: [registry],
  });
  const handshake = new prom.Histogram({
    name: 'heartbeat_probe_tls_seconds',
    help: 'TLS handshake of each new connection to an https peer (TCP connected to handshake done and certificate checked), by target, peer and family.',
    labelNames: ['target', 'peer', 'family'],
    buckets: PROBE_BUCKETS,
    registers: [registry],
  });
  const peers = new prom.Gauge({
    name: 'heartbeat_probe_peers',
    help: "Addresses each target resolved to in the last round (this heartbeat's own left out).",
    labelNames: ['target'],
    registers: [registry],
  });
  const lastSuccess = new prom.Gauge({
    name: 'heartbeat_probe_last_success_timestamp_seconds',
    help: 'Unix time of the last probe of each neighbour that ended ok; 0 for a neighbour never probed ok.',
    labelNames: ['target', 'peer', 'family'],
    registers: [registry],
  });

  const pathLimit = new prom.Gauge({
    name: 'heartbeat_probe_path_limit_bytes',
    help: "Largest whole answer (bytes on the wire, head included) that crossed from each neighbour in its last path-MTU check, when larger ones stalled (outcome mtu); 0 while no limit holds.",
    labelNames: ['target', 'peer', 'family'],
    registers: [registry],
  });

  const self = new prom.Histogram({
    name: 'heartbeat_probe_self_seconds',
    help: "The prober's own delay during each probe (self_ms: event-loop delay on the probing thread, CPU throttling of its cgroup), by target and family: the part of the probe's time that may be heartbeat, not the path.",
    labelNames: ['target', 'family'],
    buckets: PROBE_BUCKETS,
    registers: [registry],
  });

  let round = 0;
  const pairs = new Map<string, PairSeries>();

  const forget = (key: string, p: PairSeries): void => {
    pairs.delete(key);
    for (const k of p.counted) {
      const [method, size, outcome] = k.split('\t') as [string, string, string];
      probes.remove({ target: p.target, peer: p.peer, family: p.family, method, size, outcome });
    }
    for (const k of p.timed) {
      const [method, size] = k.split('\t') as [string, string];
      duration.remove({ target: p.target, peer: p.peer, family: p.family, method, size });
    }
    const labels = { target: p.target, peer: p.peer, family: p.family };
    if (p.handshaken) handshake.remove(labels);
    lastSuccess.remove(labels);
    pathLimit.remove(labels);
  };

  const pair = (target: string, peer: string): PairSeries => {
    const key = `${target}\t${peer}`;
    let p = pairs.get(key);
    if (!p) pairs.set(key, p = { target, peer, family: familyLabel(peer), lastRound: round, counted: new Set(), timed: new Set(), handshaken: false });
    return p;
  };

  return {
    record(s: ProbeSample): void {
      const p = pair(s.target, s.peer);
      p.lastRound = round;
      const size = String(s.size);
      p.counted.add(`${s.method}\t${size}\t${s.outcome}`);
      const labels = { target: s.target, peer: s.peer, family: p.family };
      probes.inc({ ...labels, method: s.method, size, outcome: s.outcome });
      self.observe({ target: s.target, family: p.family }, s.selfMs / 1000);
      if (s.tlsMs > 0) {
        p.handshaken = true;
        handshake.observe(labels, s.tlsMs / 1000);
      }
      if (s.outcome === 'ok') {
        p.timed.add(`${s.method}\t${size}`);
        duration.observe({ ...labels, method: s.method, size }, s.totalMs / 1000);
        lastSuccess.set(labels, Date.now() / 1000);
      }
    },
    pathLimit(target: string, peer: string, bytes: number): void {
      pathLimit.set({ target, peer, family: familyLabel(peer) }, bytes);
    },
    peers(target: string, count: number): void {
      peers.set({ target }, count);
    },
    begin(neighbours: Set<string>): void {
      for (const key of neighbours) {
        const tab = key.indexOf('\t');
        const p = pair(key.slice(0, tab), key.slice(tab + 1));
        p.lastRound = round;
        if (p.timed.size === 0) lastSuccess.set({ target: p.target, peer: p.peer, family: p.family }, 0);
        if (!p.limited) {
          p.limited = true;
          pathLimit.set({ target: p.target, peer: p.peer, family: p.family }, 0);
        }
      }
    },
    endRound(neighbours: Set<string>, unresolved: Set<string>): void {
      for (const key of neighbours) {
        const p = pairs.get(key);
        if (p) p.lastRound = round;
      }
      for (const [key, p] of pairs) {
        if (unresolved.has(p.target)) p.lastRound = round;
        else if (round - p.lastRound >= FORGET_AFTER_ROUNDS) forget(key, p);
      }
      round++;
    },
  };
}
