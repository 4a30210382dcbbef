/**
 * One probe round: resolve every target, pick this heartbeat's neighbours on
 * the ring (src/probe/neighbours.ts), probe each
 * (its sizes in order, then the upload) with bounded concurrency across peers,
 * and report every probe as a log line and in the metrics. A slow peer only
 * holds its own slot: every probe is timed from its own start, never from the
 * queue.
 */
import { randomUUID } from 'node:crypto';
import { isoNow, roundMs, type ProbeRecord } from '../log/format';
import type { AppLogger } from '../log/logger';
import { probe, type ProbeResult, type RunningProbe } from './check';
import type { MtuChecker } from './mtu';
import type { IdleConnections } from './pool';
import type { ProbeMetrics } from './metrics';
import { neighbours } from './neighbours';
import { resolveTarget, type Lookup, type Peer } from './resolve';
import { probeSize, sizeText, type Target } from './settings';
import { targetTls } from './tls';
import type { UdpProber } from './udp-round';
import type tls from 'node:tls';

/** Peers probed at the same time at most. */
export const PROBE_CONCURRENCY = 16;

export interface RoundOptions {
  targets: Target[];
  /** probeSizes as configured: body sizes, and wire sizes written `1400w`. */
  sizes: Array<number | string>;
  upload: number;
  timeoutMs: number;
  maxPeers: number;
  userAgent: string;
  own: { addresses: Set<string>; port: number };
  /** This heartbeat's place on the ring when none of the resolved addresses is its own (a prober outside the mesh). */
  selfKey: string;
  lookup: Lookup;
  logger: AppLogger;
  metrics?: ProbeMetrics;
  /** probeConnection = reuse. */
  pool?: IdleConnections;
  /** https targets: the one secure context (src/probe/tls.ts) and whether certificates are checked (not with probeTlsInsecure). */
  tls?: { context: tls.SecureContext; verify: boolean };
  /** The path-MTU check (src/probe/mtu.ts): a GET that stalls after connecting is `mtu` when the path explains it. */
  mtu?: MtuChecker;
  /** Hears every probe line (the status page, src/status/probes.ts). */
  onProbe?: (line: ProbeRecord) => void;
  /** probeUdp > 0: the UDP echo round (src/probe/udp-round.ts), to the same neighbours, alongside the TCP probes. */
  udp?: UdpProber;
}

export interface Rounds {
  /** Runs one round; resolves when every probe of it has been reported. */
  run(): Promise<void>;
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
  const tlsByTarget = new Map(o.targets.map((t) => [t, o.tls ? targetTls(t, o.tls.context, o.tls.verify) : undefined]));
  const tlsOf = (t: Target): ReturnType<typeof targetTls> => tlsByTarget.get(t);
  let stopped = false;
  /** Targets already named as (partly) this heartbeat, so the line is written once per target. */
  const announced = new Set<string>();

  const report = (target: Target, peer: string, p: Planned, dnsMs: number, id: string, r: ProbeResult): void => {
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
    };
    o.logger.probe(line);
    o.onProbe?.(line);
    o.metrics?.record({ target: target.name, peer, method: p.method, size: sizeText({ bytes: p.size, wire: p.wire }), outcome: r.outcome, totalMs: r.totalMs, tlsMs: r.tlsMs });
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
          const found = await o.mtu.check(at, p.size);
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
          o.mtu.crossed(key, p.size);
        }
      }
      report(peer.target, peer.label, p, peer.dnsMs, requestId, r);
    }
  };

  const failedDns = (target: Target, dnsMs: number): void => {
    const none: ProbeResult = { outcome: 'dns', status: 0, connectMs: 0, tlsMs: 0, ttfbMs: 0, totalMs: 0, bytes: 0 };
    for (const p of plan) report(target, hostPort(target), p, dnsMs, '-', none);
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
      const selfKey = self.sort()[0] ?? o.selfKey;
      const chosen = neighbours([...byLabel.keys(), ...self], selfKey, o.maxPeers).flatMap((l) => byLabel.get(l) ?? []);
      const keep = new Set(chosen.map((p) => `${p.target.name}\t${p.label}`));
      // a target whose name did not resolve this round keeps its pairs' connections (and series) for when it does
      for (const key of o.pool?.peers() ?? []) if (unresolved.has(key.slice(0, key.indexOf('\t')))) keep.add(key);
      o.pool?.retain(keep);
      o.mtu?.retain(keep);
      o.metrics?.begin(keep);
      const udp = o.udp?.run(chosen.map((p) => ({ target: p.target.name, address: p.address, port: p.target.port, label: p.label })));
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < chosen.length && !stopped) await probePeer(chosen[next++] as Peer);
      };
      await Promise.all(Array.from({ length: Math.min(PROBE_CONCURRENCY, chosen.length) }, worker));
      await udp;
      o.metrics?.endRound(keep, unresolved);
    },
    stop(): void {
      stopped = true;
      o.udp?.stop();
    },
    abortRunning(): void {
      for (const r of running) r.abort();
      o.udp?.abort();
      o.mtu?.abortRunning();
    },
  };
}
