/**
 * One probe round: resolve every target, pick this heartbeat's neighbours on
 * the ring (src/probe/neighbours.ts), and start each neighbour's probes (its
 * sizes in order, then the upload), the neighbours' starts spread over the first
 * half of the interval; every probe is reported as a log line and in the metrics.
 * A slow peer holds only its own slot: a neighbour whose probes of an earlier
 * round still run (with their path-MTU check) is skipped this round, and nobody
 * else waits for it; every probe is timed from its own start.
 */
import { randomUUID } from 'node:crypto';
import { isoNow, roundMs, type ProbeRecord } from '../log/format';
import type { ProbeLog } from './scheduler';
import { probe, type ProbeResult, type RunningProbe } from './check';
import type { MtuChecker } from './mtu';
import type { SelfCheck } from './self';
import type { UdpProber } from './udp-round';
import type { IdleConnections } from './pool';
import type { ProbeMetrics } from './metrics';
import { familyOf, pickNeighbours, type Family } from './neighbours';
import { resolveTarget, type Lookup, type Peer } from './resolve';
import { probeSize, sizeText, type Target } from './settings';
import { wireOfBody } from '../http/wire';
import { targetTls } from './tls';
import type tls from 'node:tls';

/** The share of the interval over which a round's neighbours start, one after another in ring order. */
export const SPREAD = 0.5;

export interface RoundOptions {
  targets: Target[];
  /** probeSizes as configured: body sizes, and wire sizes written `1400w`. */
  sizes: Array<number | string>;
  upload: number;
  timeoutMs: number;
  maxPeers: number;
  /** probeInterval: the neighbours' starts are spread over its first half. */
  intervalMs: number;
  userAgent: string;
  own: { addresses: Set<string>; port: number };
  /** This heartbeat's place on the ring when none of the resolved addresses is its own (a prober outside the mesh). */
  selfKey: string;
  lookup: Lookup;
  logger: ProbeLog;
  metrics?: ProbeMetrics;
  /** probeConnection = reuse. */
  pool?: IdleConnections;
  /** https targets: the one secure context (src/probe/tls.ts) and whether certificates are checked (not with probeTlsInsecure). */
  tls?: { context: tls.SecureContext; verify: boolean };
  /** The path-MTU check (src/probe/mtu.ts): a GET that stalls after connecting is `mtu` when the path explains it. */
  mtu?: MtuChecker;
  /** Hears every probe line (the status page, src/status/probes.ts). */
  onProbe?: (line: ProbeRecord) => void;
  /** The probing thread's self-check (src/probe/self.ts): each line's `self_ms`. */
  self?: SelfCheck;
  /** probeUdp > 0: the UDP echo round (src/probe/udp-round.ts), to the same neighbours, alongside the TCP probes. */
  udp?: UdpProber;
}

export interface Rounds {
  /** Runs one round: resolves once its neighbours are chosen and their starts planned (not when their probes end). */
  run(): Promise<void>;
  /** Resolves when no neighbour's probes run (after stop: when the last has been reported). */
  idle(): Promise<void>;
  /** Starts no further probe (those already running go on). */
  stop(): void;
  /** Ends every running probe now, outcome `aborted`. */
  abortRunning(): void;
}

interface Planned { method: 'GET' | 'POST'; size: number; wire: boolean }

/** The target's host:port ([v6]:port), as the peer column says when DNS failed. */
const hostPort = (t: Target): string => (t.host.includes(':') ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`);
/** The Host header: the target's override, else its host:port. */
const hostHeader = (t: Target): string => t.hostOverride ?? hostPort(t);

export function createRounds(o: RoundOptions): Rounds {
  const plan: Planned[] = [
    ...o.sizes.map(probeSize).map((s) => ({ method: 'GET' as const, size: s.bytes, wire: s.wire })),
    ...(o.upload > 0 ? [{ method: 'POST' as const, size: o.upload, wire: false }] : []),
  ];
  const running = new Set<RunningProbe>();
  /** Neighbours (`${target}\t${peer}`) whose probes run or wait for their start: each holds its own slot. */
  const busy = new Map<string, Promise<void>>();
  const starts = new Set<NodeJS.Timeout>();
  /** The UDP round under way: a new one starts only when it has ended (it holds its own slot too). */
  let udpRound: Promise<void> | undefined;
  const stopStart = new WeakMap<NodeJS.Timeout, () => void>();
  const tlsByTarget = new Map(o.targets.map((t) => [t, o.tls ? targetTls(t, o.tls.context, o.tls.verify) : undefined]));
  const tlsOf = (t: Target): ReturnType<typeof targetTls> => tlsByTarget.get(t);
  let stopped = false;
  /** Targets already named as (partly) this heartbeat, so the line is written once per target. */
  const announced = new Set<string>();

  const report = (target: Target, peer: string, family: Family | undefined, p: Planned, dnsMs: number, id: string, r: ProbeResult): void => {
    const limit = o.mtu?.limit(`${target.name}\t${peer}`)?.crosses ?? 0;
    if (r.outcome !== 'dns') o.metrics?.pathLimit(target.name, peer, limit);
    const line: ProbeRecord = {
      time: isoNow(),
      target: target.name,
      peer,
      method: p.method,
      size: p.size,
      status: r.status,
      outcome: r.outcome,
      dns_ms: roundMs(dnsMs),
      connect_ms: roundMs(r.connectMs),
      tls_ms: roundMs(r.tlsMs),
      ttfb_ms: roundMs(r.ttfbMs),
      total_ms: roundMs(r.totalMs),
      bytes: r.bytes,
      request_id: id,
      wire: p.wire,
      path_limit: limit,
      family: family ?? '-',
      self_ms: roundMs(r.selfMs),
    };
    o.logger.probe(line);
    o.onProbe?.(line);
    o.metrics?.record({ target: target.name, peer, method: p.method, size: sizeText({ bytes: p.size, wire: p.wire }), outcome: r.outcome, totalMs: r.totalMs, tlsMs: r.tlsMs, selfMs: r.selfMs });
  };

  const probePeer = async (peer: Peer): Promise<void> => {
    for (const p of plan) {
      if (stopped) return;
      const requestId = randomUUID();
      const running1 = probe({
        address: peer.address,
        port: peer.target.port,
        host: hostHeader(peer.target),
        uri: peer.target.uri,
        method: p.method,
        size: p.size,
        wire: p.wire,
        timeoutMs: o.timeoutMs,
        requestId,
        userAgent: o.userAgent,
        tls: tlsOf(peer.target),
        reuse: o.pool ? { pool: o.pool, key: `${peer.target.name}\t${peer.label}` } : undefined,
        self: o.self,
      });
      running.add(running1);
      let r = await running1.done;
      running.delete(running1);
      // the check speaks plain http: an https target's stall stays `timeout` (docs/mtu.md)
      if (o.mtu && p.method === 'GET' && peer.target.scheme === 'http' && !stopped) {
        const key = `${peer.target.name}\t${peer.label}`;
        if (r.outcome === 'timeout') {
          // stalled after connecting: is it the path? (the answer's wire bytes are at least the size)
          const at = { key, address: peer.address, port: peer.target.port, host: hostHeader(peer.target), uri: peer.target.uri };
          const held = o.mtu.limit(key)?.crosses;
          // the check asks for wire sizes: a body size's answer is its head more (at least what already came, and one more byte)
          const found = await o.mtu.check(at, Math.max(p.wire ? p.size : wireOfBody(p.size), r.wireBytes + 1));
          if (found) {
            r = { ...r, outcome: 'mtu' };
            // once per limit found (or changed): what the check cost
            if (found.crosses !== held) {
              o.logger.warn('path MTU blackhole', {
                target: peer.target.name, peer: peer.label, crosses: found.crosses, stalls: found.stalls, probes: found.probes, ms: roundMs(found.ms),
              });
            }
          }
        } else if (r.outcome === 'ok') {
          o.mtu.crossed(key, r.wireBytes);
        }
      }
      report(peer.target, peer.label, familyOf(peer.label), p, peer.dnsMs, requestId, r);
    }
  };

  const failedDns = (target: Target, dnsMs: number): void => {
    const none: ProbeResult = { outcome: 'dns', status: 0, connectMs: 0, tlsMs: 0, ttfbMs: 0, totalMs: 0, bytes: 0, wireBytes: 0, selfMs: 0, late: { connect: 0, tls: 0, firstByte: 0, end: 0, throttled: 0 } };
    for (const p of plan) report(target, hostPort(target), undefined, p, dnsMs, '-', none);
  };

  return {
    async run(): Promise<void> {
      const resolved = await Promise.all(o.targets.map((t) => resolveTarget(t, o.own, o.timeoutMs, o.lookup)));
      if (stopped) return;
      const byLabel = new Map<string, Peer[]>();
      const self: string[] = [];
      const unresolved = new Set<string>();
      for (const r of resolved) {
        if (r.error !== undefined) {
          failedDns(r.target, r.dnsMs);
          unresolved.add(r.target.name);
        }
        o.metrics?.peers(r.target.name, r.peers.length);
        self.push(...r.self);
        if (r.self.length > 0 && !announced.has(r.target.name)) {
          announced.add(r.target.name);
          o.logger.info('probe target is this heartbeat', { target: r.target.name, addresses: r.self });
        }
        for (const p of r.peers) {
          const list = byLabel.get(p.label);
          if (list) list.push(p);
          else byLabel.set(p.label, [p]);
        }
      }
      // a ring per address family: never this heartbeat's other address, min(K, N-1) in each family
      const chosen = pickNeighbours(byLabel.keys(), self, o.selfKey, o.maxPeers).flatMap((l) => byLabel.get(l) ?? []);
      const keep = new Set(chosen.map((p) => `${p.target.name}\t${p.label}`));
      // a target whose name did not resolve this round keeps its pairs' connections (and series) for when it does
      for (const key of o.pool?.peers() ?? []) if (unresolved.has(key.slice(0, key.indexOf('\t')))) keep.add(key);
      o.pool?.retain(keep);
      o.mtu?.retain(keep);
      o.metrics?.begin(keep);
      o.metrics?.endRound(keep, unresolved);
      if (o.udp && !udpRound) {
        udpRound = o.udp.run(chosen.map((p) => ({ target: p.target.name, address: p.address, port: p.target.port, label: p.label })))
          .catch((e: unknown) => { o.logger.error('udp round failed', { error: e instanceof Error ? e.message : String(e) }); })
          .finally(() => { udpRound = undefined; });
      }
      // each neighbour in its own slot: one still busy from an earlier round is skipped, nobody waits for it
      const gap = chosen.length > 0 ? (o.intervalMs * SPREAD) / chosen.length : 0;
      chosen.forEach((peer, i) => {
        const key = `${peer.target.name}\t${peer.label}`;
        if (busy.has(key)) return;
        const slot = new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            starts.delete(timer);
            probePeer(peer).catch((e: unknown) => {
              o.logger.error('probe failed', { target: peer.target.name, peer: peer.label, error: e instanceof Error ? e.message : String(e) });
            }).finally(resolve);
          }, i * gap);
          starts.add(timer);
          stopStart.set(timer, resolve);
        }).finally(() => busy.delete(key));
        busy.set(key, slot);
      });
    },
    async idle(): Promise<void> {
      while (busy.size > 0 || udpRound) await Promise.all([...busy.values(), udpRound]);
    },
    stop(): void {
      stopped = true;
      o.udp?.stop();
      // planned starts that have not come: nothing of them runs
      for (const t of starts) {
        clearTimeout(t);
        stopStart.get(t)?.();
      }
      starts.clear();
    },
    abortRunning(): void {
      for (const r of running) r.abort();
      o.udp?.abort();
      o.mtu?.abortRunning();
    },
  };
}
