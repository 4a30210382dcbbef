/**
 * The status page's UDP view (probeUdp): one row per neighbour (target, peer), fed with every udp
 * line (src/probe/udp-round.ts). A row sums its last WINDOW rounds (a ring, so memory is O(K)):
 * datagrams sent and lost by direction, as percentages of those sent; the RTTs and jitter are the
 * last round's. Worst loss (either direction) first.
 */
import type { UdpRecord } from '../log/format';
import { createBook } from './book';
import { FORGET_AFTER_INTERVALS, WINDOW } from './probes';

export interface UdpRow {
  target: string;
  peer: string;
  family: string;
  /** Rounds summed (at most WINDOW) and the datagrams they sent. */
  rounds: number;
  sent: number;
  lostOut: number;
  lostBack: number;
  lostUnknown: number;
  /** Percent of `sent`, 0.001 resolution. */
  lossOutPct: number;
  lossBackPct: number;
  lossUnknownPct: number;
  /** The last round's. */
  rttP50Ms: number;
  rttP99Ms: number;
  jitterMs: number;
  /** RFC 3339 time of the last round, and seconds since. */
  at: string;
  ageSeconds: number;
}

const FIELDS = 4; // sent, lost_out, lost_back, lost_unknown per round

class Row {
  readonly ring = new Float64Array(WINDOW * FIELDS);
  next = 0;
  count = 0;
  last!: UdpRecord;
  lastAt = 0;
}

export interface UdpBook {
  /** One peer's round ended: its udp line. */
  readonly record: (r: UdpRecord) => void;
  /** The rows, worst loss (either direction) first. */
  rows(now?: number): UdpRow[];
}

const pct = (n: number, of: number): number => (of === 0 ? 0 : Math.round((100_000 * n) / of) / 1000);

/** `intervalMs`: the probe interval (rows unfed for FORGET_AFTER_INTERVALS of it go); `maxRows` bounds the book. */
export function createUdpBook(intervalMs: number, maxRows: number): UdpBook {
  const book = createBook(() => new Row(), maxRows, FORGET_AFTER_INTERVALS * intervalMs);
  return {
    record(r: UdpRecord): void {
      const now = Date.now();
      const row = book.feed(`${r.target}\t${r.peer}`, now);
      const at = row.next * FIELDS;
      row.ring[at] = r.sent;
      row.ring[at + 1] = r.lost_out;
      row.ring[at + 2] = r.lost_back;
      row.ring[at + 3] = r.lost_unknown;
      row.next = (row.next + 1) % WINDOW;
      row.count = Math.min(WINDOW, row.count + 1);
      row.last = r;
    },
    rows(now = Date.now()): UdpRow[] {
      const out: UdpRow[] = [];
      for (const row of book.live(now)) {
        const sum = [0, 0, 0, 0];
        for (let i = 0; i < row.count; i++) for (let f = 0; f < FIELDS; f++) sum[f] = (sum[f] as number) + (row.ring[i * FIELDS + f] as number);
        const [sent, lostOut, lostBack, lostUnknown] = sum as [number, number, number, number];
        const r = row.last;
        out.push({
          target: r.target, peer: r.peer, family: r.family, rounds: row.count, sent, lostOut, lostBack, lostUnknown,
          lossOutPct: pct(lostOut, sent), lossBackPct: pct(lostBack, sent), lossUnknownPct: pct(lostUnknown, sent),
          rttP50Ms: r.rtt_p50_ms, rttP99Ms: r.rtt_p99_ms, jitterMs: r.jitter_ms,
          at: r.time, ageSeconds: Math.round(now - row.lastAt) / 1000,
        });
      }
      return out.sort(compareUdpRows);
    },
  };
}

/** Worst loss first: the larger of out and back (unknown counts as both), then the other, then by name. */
export function compareUdpRows(a: UdpRow, b: UdpRow): number {
  const worst = (r: UdpRow): number => Math.max(r.lossOutPct, r.lossBackPct) + r.lossUnknownPct;
  return worst(b) - worst(a) || (b.lossOutPct + b.lossBackPct) - (a.lossOutPct + a.lossBackPct) ||
    a.target.localeCompare(b.target) || a.peer.localeCompare(b.peer);
}
