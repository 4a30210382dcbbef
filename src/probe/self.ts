/**
 * The prober's own delay during a probe (`self_ms`): how late the probing thread may have stamped the
 * socket event that ends the probe (its last byte, or the failure). While a probe runs, a 1 ms timer
 * ticks on this thread; a tick later than due (beyond `LATE_SLACK_MS`, the timer's own jitter) means the
 * thread could not run: another probe's work, a collection, no free CPU, or a throttled cgroup (a
 * pod's CPU limit). When an event is stamped, its possible lateness is the loop's delay now (the
 * awaited tick overdue) or the longest stall a tick saw end since the interval began (the request
 * written: the answer came after it; timers may run before the I/O of the same turn).
 *
 * Why the stamp and not the probe's whole span: a stall while the prober only waits for the network
 * delays no stamp, and counting it made self_ms far larger than the error it explains (measured:
 * docs/probe.md, "How true are the numbers"). The cgroup's throttling over the span (cgroup v2
 * `cpu.stat` `throttled_usec`, v1 `throttled_time` in ns; absent files mean 0; two reads a probe) is
 * read too, as the cause: a throttled thread's ticks are late by the same time.
 */
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';

/**
 * A probe whose self_ms is at least this is marked as the prober's (the status page, the dashboard) and
 * counts toward HeartbeatProberStarved: beyond it the prober's own delay is larger than the error the
 * timings are calibrated to (docs/probe.md, "How true are the numbers").
 */
export const STARVED_MS = 5;

/** The sampling timer's period. */
export const TICK_MS = 1;
/** A tick this much later than due is the timer's own jitter, not a delay (measured: p50 0.08 ms, p90 0.12 ms on an idle loop). */
export const LATE_SLACK_MS = 0.15;

/** Where this process's CPU throttling is counted, and in what unit. */
export interface ThrottleSource {
  file: string;
  /** `throttled_usec` (v2) or `throttled_time` (v1, nanoseconds). */
  key: 'throttled_usec' | 'throttled_time';
}

/**
 * The cpu.stat of this process's cgroup: cgroup v1's cpu controller when it is mounted (as
 * `cpu` or `cpu,cpuacct`), else cgroup v2's; the process's own path first, the mount's root (a
 * container's own cgroup namespace) next. Undefined when none is readable.
 */
export function throttleSource(procCgroup = '/proc/self/cgroup', root = '/sys/fs/cgroup'): ThrottleSource | undefined {
  let text: string;
  try {
    text = fs.readFileSync(procCgroup, 'utf8');
  } catch {
    return undefined;
  }
  const candidates: ThrottleSource[] = [];
  let v2Path: string | undefined;
  for (const line of text.split('\n')) {
    const [, controllers, p] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (controllers === undefined || p === undefined) continue;
    if (controllers === '') v2Path = p;
    else if (controllers.split(',').includes('cpu')) {
      for (const mount of ['cpu', 'cpu,cpuacct', 'cpuacct,cpu']) {
        candidates.push({ file: `${root}/${mount}${p === '/' ? '' : p}/cpu.stat`, key: 'throttled_time' });
        if (p !== '/') candidates.push({ file: `${root}/${mount}/cpu.stat`, key: 'throttled_time' });
      }
    }
  }
  if (v2Path !== undefined) {
    candidates.push({ file: `${root}${v2Path === '/' ? '' : v2Path}/cpu.stat`, key: 'throttled_usec' });
    if (v2Path !== '/') candidates.push({ file: `${root}/cpu.stat`, key: 'throttled_usec' });
  }
  return candidates.find((c) => readThrottledMs(c) !== undefined);
}

/** Milliseconds of throttling the source has counted, undefined when it cannot be read. */
export function readThrottledMs(s: ThrottleSource): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(s.file, 'latin1');
  } catch {
    return undefined;
  }
  const at = text.indexOf(`${s.key} `);
  if (at < 0) return undefined;
  const value = Number.parseInt(text.slice(at + s.key.length + 1), 10);
  if (!Number.isFinite(value)) return undefined;
  return s.key === 'throttled_usec' ? value / 1000 : value / 1e6;
}

/** A probe's start, as the self-check saw it. */
export interface SelfMark {
  throttled: number;
}

/** What a probe's stamps were late by, ms (0: on time), and its cgroup's throttling over its span. */
export interface SelfReading {
  /** The lateness at each stamp that ends a measured interval. */
  connect: number;
  firstByte: number;
  end: number;
  /** ms the cgroup was throttled during the probe (cause, not amount: much of it may fall while waiting). */
  throttled: number;
}

export interface SelfCheck {
  /** A probe starts: the sampler runs while any probe does. */
  begin(): SelfMark;
  /**
   * How late this thread may have stamped a socket event at `at` (performance.now() of the stamp; it is read
   * there, so a stall between the stamp and this call is not the stamp's): the loop's delay then, or the
   * longest stall it saw end since `since` (when the interval being stamped began: the event came after).
   */
  late(since: number, at: number): number;
  /** The probe ended (the sampler stops when no probe runs); its cgroup's throttling over the span. */
  end(mark: SelfMark): number;
}

/** Ticks remembered (their time and lateness): a stamp looks back over those since its interval began. */
export const TICKS_KEPT = 64;

/** The self-check of the thread it is made on. `source`: the throttle counter (undefined: none, 0). */
export function createSelfCheck(source: ThrottleSource | undefined = throttleSource()): SelfCheck {
  let running = 0;
  let timer: NodeJS.Timeout | undefined;
  let due = 0; // when the awaited tick should run (performance.now())
  const ranAt = new Float64Array(TICKS_KEPT).fill(-Infinity);
  const dueAt = new Float64Array(TICKS_KEPT);
  let next = 0;

  const tick = (): void => {
    const now = performance.now();
    ranAt[next] = now;
    dueAt[next] = due;
    next = (next + 1) % TICKS_KEPT;
    due = now + TICK_MS;
    timer = setTimeout(tick, TICK_MS);
  };
  const throttledNow = (): number => (source ? readThrottledMs(source) ?? 0 : 0);

  return {
    begin(): SelfMark {
      if (running++ === 0) {
        due = performance.now() + TICK_MS;
        timer = setTimeout(tick, TICK_MS);
      }
      return { throttled: throttledNow() };
    },
    late(since: number, at: number): number {
      // the awaited tick overdue at `at`: the loop was that far behind; and the stalls the ticks since `since`
      // saw (timers run before the I/O of the same turn: a stall just ended is one of those), each only
      // between `since` and `at` (what of a stall came before the interval did not delay its end, nor what
      // came after the stamp)
      let late = Math.max(0, at - Math.max(due, since) - LATE_SLACK_MS);
      for (let i = 0; i < TICKS_KEPT; i++) {
        const ran = ranAt[i] as number;
        if (ran > since) late = Math.max(late, Math.min(ran, at) - Math.max(dueAt[i] as number, since) - LATE_SLACK_MS);
      }
      return late;
    },
    end(mark: SelfMark): number {
      if (--running === 0) {
        clearTimeout(timer);
        timer = undefined;
      }
      return Math.max(0, throttledNow() - mark.throttled);
    },
  };
}
