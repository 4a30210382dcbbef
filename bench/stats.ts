/**
 * The bench's statistics: what one measurement round gives, and the medians, ranges and side-by-side
 * ratios the tables and targets are made of.
 */
import type { HttpFigures, TransferFigures } from './protocol';

export const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/** Round r measures the servers starting from a different one, so no server always goes first. */
export const rotate = <T>(xs: T[], r: number): T[] => xs.map((_, i) => xs[(i + r) % xs.length] as T);

/** One autocannon measurement, with the server CPU time it took per response. */
export type Round = HttpFigures & { cpuUsPerReq: number; serverBusy: number; loadBusy: number };

export interface HttpStat {
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  mbPerSec: number;
  /** Server CPU time (all threads) per response, microseconds: steadier than req/s on a shared machine. */
  cpuUsPerReq: number;
  /**
   * Server CPU time over wall time while the load ran (1 = one core's worth): well below 1, the
   * server was not what limited req/s (the load generator, or other processes on its core, were).
   */
  serverBusy: number;
  /** The same for the load worker: near 1, the load generator was the limit. */
  loadBusy: number;
  /** req/s of each round, in order. */
  rounds: number[];
}

export interface TransferStat {
  seconds: number;
  mbPerSec: number;
  bytes: number;
  ok: boolean;
  detail: string;
  rounds: number[];
}

export interface Target {
  name: string;
  measured: number;
  unit: 'x' | 'req/s' | 's' | '%' | 'MiB';
  limit: number;
  pass: boolean;
}

/** One side-by-side round: `a` and `b` under load at the same time. */
export interface SidePair { a: Round; b: Round }

/**
 * Side-by-side rounds of a pair: `ratio` is a's CPU time per response over b's (median of the rounds'
 * ratios, with their range): how many responses b gives per core for each one a gives. Immune to what
 * slows the whole machine for a while, which moves solo rounds by ±15% here.
 */
export interface SideStat {
  ratio: number;
  min: number;
  max: number;
  aCpuUsPerReq: number;
  bCpuUsPerReq: number;
  /** The server core's busy share while both ran (both servers' CPU over wall time). */
  serverBusy: number;
  rounds: number[];
}

export function sideStat(pairs: SidePair[]): SideStat {
  const ratios = pairs.map((p) => p.a.cpuUsPerReq / p.b.cpuUsPerReq);
  return {
    ratio: median(ratios),
    min: Math.min(...ratios),
    max: Math.max(...ratios),
    aCpuUsPerReq: median(pairs.map((p) => p.a.cpuUsPerReq)),
    bCpuUsPerReq: median(pairs.map((p) => p.b.cpuUsPerReq)),
    serverBusy: median(pairs.map((p) => p.a.serverBusy + p.b.serverBusy)),
    rounds: ratios,
  };
}

export function httpStat(figs: Round[], bytes: number): HttpStat {
  const rps = median(figs.map((f) => f.reqPerSec));
  return {
    reqPerSec: rps,
    p50Ms: median(figs.map((f) => f.p50Ms)),
    p99Ms: median(figs.map((f) => f.p99Ms)),
    mbPerSec: (rps * bytes) / 1e6,
    cpuUsPerReq: median(figs.map((f) => f.cpuUsPerReq)),
    serverBusy: median(figs.map((f) => f.serverBusy)),
    loadBusy: median(figs.map((f) => f.loadBusy)),
    rounds: figs.map((f) => f.reqPerSec),
  };
}

export function transferStat(figs: TransferFigures[], bytes: number): TransferStat {
  const seconds = median(figs.map((f) => f.seconds));
  const bad = figs.find((f) => !f.ok);
  return {
    seconds,
    mbPerSec: bytes / seconds / 1e6,
    bytes: Math.min(...figs.map((f) => f.bytes)),
    ok: !bad,
    detail: (bad ?? figs[0])?.detail ?? '',
    rounds: figs.map((f) => f.seconds),
  };
}

