/**
 * The status page's probe view: one row per neighbour (target, peer), method and size, fed with
 * every probe line a round writes (src/probe/round.ts calls `record` beside the log line). A row
 * keeps the last probe and a ring of the total times of its last WINDOW probes, so memory is
 * O(K × sizes): nothing grows with the mesh or with time. p50/p99 are nearest-rank over the ok
 * probes in that window (the probes heartbeat_probe_duration_seconds observes too).
 */
import type { ProbeRecord } from '../log/format';
import { STARVED_MS } from '../probe/self';
import { createBook } from './book';

/** Probes per row the percentiles are over: the last 60 (10 minutes at the default 10 s interval). */
export const WINDOW = 60;
/** A row no probe has fed for this many intervals is dropped (as the metrics forget a pair: FORGET_AFTER_ROUNDS). */
export const FORGET_AFTER_INTERVALS = 10;
/** The phases a probe's time is split into (its log line's columns). */
export const PHASES = ['dns', 'connect', 'tls', 'ttfb', 'transfer'] as const;
export type Phase = (typeof PHASES)[number];

export interface ProbeRow {
  target: string;
  peer: string;
  method: string;
  size: number;
  /** true: `size` is the whole answer on the wire (a `1400w` probe size), false: the body (docs/mtu.md). */
  wire: boolean;
  /** Last probe. */
  outcome: string;
  status: number;
  /** RFC 3339 time the last probe ended (its log line's time). */
  at: string;
  totalMs: number;
  /** The phases of the last probe, milliseconds; transfer = total - connect - tls - ttfb (the body, or the upload). */
  phases: Record<Phase, number>;
  /** The phase that took longest in the last probe. */
  phase: Phase;
  /** Nearest-rank percentiles of total_ms over the ok probes of the window; null with none. */
  p50Ms: number | null;
  p99Ms: number | null;
  /** Probes in the window, and how many of them ended ok. */
  samples: number;
  okSamples: number;
  /** RFC 3339 time of the last ok probe; null when none since the row appeared. */
  lastSuccess: string | null;
  lastSuccessAgeSeconds: number | null;
  ageSeconds: number;
  failing: boolean;
  /** How long the row has been failing: since the first failing probe after its last ok one (or since it appeared); null when ok. */
  failingSeconds: number | null;
  /** The largest whole answer that crossed to this peer in its last path-MTU check (outcome `mtu`); 0: none holds. */
  pathLimit: number;
  /** ipv4 or ipv6: the peer's address family. */
  family: string;
  /** The prober's own delay during the last probe (self_ms). */
  selfMs: number;
  /** The last probe's self_ms is at least STARVED_MS: its times are more heartbeat's than the path's. */
  starved: boolean;
}

class Row {
  readonly totals = new Float64Array(WINDOW).fill(Number.NaN);
  next = 0;
  count = 0;
  last!: ProbeRecord;
  /** ms since the epoch, of the last probe and of the last ok one (0: none). */
  lastAt = 0;
  lastOkAt = 0;
  lastOkTime: string | null = null;
  /** ms since the epoch of the first failing probe of the current failure (0: the last probe was ok). */
  failingSinceAt = 0;
}

export interface ProbeBook {
  /** One probe ended: its log line's record. */
  readonly record: (r: ProbeRecord) => void;
  /** The rows, failing first (oldest last success first), then slowest p99 first. */
  rows(now?: number): ProbeRow[];
  /** Peer addresses (address:port) probed lately: the only places the mesh view may ask. */
  peers(now?: number): string[];
}

const key = (r: ProbeRecord): string => `${r.target}\t${r.peer}\t${r.method}\t${r.size}${r.wire ? 'w' : ''}`;

function nearestRank(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

const round3 = (v: number): number => Math.round(v * 1000) / 1000;

/** `intervalMs`: the probe interval (rows unfed for FORGET_AFTER_INTERVALS of it go); `maxRows` bounds the book. */
export function createProbeBook(intervalMs: number, maxRows: number): ProbeBook {
  const book = createBook(() => new Row(), maxRows, FORGET_AFTER_INTERVALS * intervalMs);

  return {
    record(r: ProbeRecord): void {
      const now = Date.now();
      const row = book.feed(key(r), now);
      row.last = r;
      row.totals[row.next] = r.outcome === 'ok' ? r.total_ms : Number.NaN;
      row.next = (row.next + 1) % WINDOW;
      row.count = Math.min(WINDOW, row.count + 1);
      if (r.outcome === 'ok') {
        row.lastOkAt = now;
        row.lastOkTime = r.time;
        row.failingSinceAt = 0;
      } else if (row.failingSinceAt === 0) row.failingSinceAt = now;
    },

    rows(now = Date.now()): ProbeRow[] {
      const out: ProbeRow[] = [];
      for (const row of book.live(now)) {
        const r = row.last;
        const ok: number[] = [];
        for (let i = 0; i < row.count; i++) {
          const v = row.totals[i] as number;
          if (!Number.isNaN(v)) ok.push(v);
        }
        ok.sort((a, b) => a - b);
        const phases: Record<Phase, number> = {
          dns: r.dns_ms,
          connect: r.connect_ms,
          tls: r.tls_ms,
          ttfb: r.ttfb_ms,
          transfer: round3(Math.max(0, r.total_ms - r.connect_ms - r.tls_ms - r.ttfb_ms)),
        };
        let phase: Phase = 'dns';
        for (const p of PHASES) if (phases[p] > phases[phase]) phase = p;
        out.push({
          target: r.target,
          peer: r.peer,
          method: r.method,
          size: r.size,
          wire: r.wire,
          outcome: r.outcome,
          status: r.status,
          at: r.time,
          totalMs: r.total_ms,
          phases,
          phase,
          p50Ms: nearestRank(ok, 0.5),
          p99Ms: nearestRank(ok, 0.99),
          samples: row.count,
          okSamples: ok.length,
          lastSuccess: row.lastOkTime,
          lastSuccessAgeSeconds: row.lastOkAt ? round3((now - row.lastOkAt) / 1000) : null,
          ageSeconds: round3((now - row.lastAt) / 1000),
          failing: r.outcome !== 'ok',
          failingSeconds: r.outcome !== 'ok' ? round3((now - row.failingSinceAt) / 1000) : null,
          pathLimit: r.path_limit,
          family: r.family,
          selfMs: r.self_ms,
          starved: r.self_ms >= STARVED_MS,
        });
      }
      return out.sort(compareRows);
    },

    peers(now = Date.now()): string[] {
      const seen = new Set<string>();
      // a DNS failure's row names the target's host:port, not an address that was probed
      for (const row of book.live(now)) if (row.last.outcome !== 'dns') seen.add(row.last.peer);
      return [...seen];
    },
  };
}

/** Failing rows first (the longest without success first), then ok rows slowest p99 first; ties by name. */
export function compareRows(a: ProbeRow, b: ProbeRow): number {
  if (a.failing !== b.failing) return a.failing ? -1 : 1;
  if (a.failing) {
    const aa = a.lastSuccessAgeSeconds ?? Infinity;
    const bb = b.lastSuccessAgeSeconds ?? Infinity;
    if (aa !== bb) return bb - aa;
  } else if ((a.p99Ms ?? 0) !== (b.p99Ms ?? 0)) return (b.p99Ms ?? 0) - (a.p99Ms ?? 0);
  return a.target.localeCompare(b.target) || a.peer.localeCompare(b.peer) ||
    a.method.localeCompare(b.method) || a.size - b.size || Number(a.wire) - Number(b.wire);
}
