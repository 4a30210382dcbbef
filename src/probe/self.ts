/**
 * The prober's own delay during a probe (`self_ms`): how late the probing thread may have stamped the
 * socket events that end the probe's timings (TCP connected, TLS done, first byte, last byte, or the
 * failure). Two ways a stamp is late, both read on this thread:
 * - the thread was busy or stopped: while a probe runs, a 1 ms timer ticks here; a tick later than due
 *   (beyond `LATE_SLACK_MS`, the timer's own jitter) means the thread could not run: another probe's work,
 *   a collection, no free CPU, or a throttled cgroup (a pod's CPU limit). At a stamp, its possible lateness
 *   is the loop's delay then (the awaited tick overdue) or the longest stall a tick saw end since the
 *   interval began (timers may run before the I/O of the same turn);
 * - the thread slept and was woken late: the event woke it, but it waited for a CPU (another thread on
 *   it, a throttled cgroup) and no tick was due to see it. Linux counts each thread's run-queue wait
 *   (/proc/thread-self/schedstat); it is read at every tick, at each interval's start and at each stamp,
 *   and a stamp's lateness is at least the longest wait between two of those reads since its interval
 *   began (the last ending at the stamp). Where there is no such file (not Linux), this part is 0.
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

/**
 * This thread's run-queue wait so far (ms): Linux's /proc/thread-self/schedstat, its second field (ns the
 * thread was runnable but not running: woken and waiting for a CPU, or held by its cgroup's CPU quota).
 * Opened on the calling thread (the file is that thread's for good) and read with one pread each time (~2 µs).
 * Undefined where there is no such file (not Linux, or a kernel without scheduler statistics).
 */
export function runQueueClock(file = '/proc/thread-self/schedstat'): (() => number) | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return undefined;
  }
  const buf = Buffer.alloc(96);
  let last = 0;
  const parse = (): number => {
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    // "<ns on CPU> <ns waiting> <timeslices>\n": the second field
    let i = buf.indexOf(32);
    if (i < 0 || i >= n) throw new Error(`${file}: no second field`);
    let ns = 0;
    for (i++; i < n; i++) {
      const c = buf[i] as number;
      if (c < 48 || c > 57) break;
      ns = ns * 10 + (c - 48);
    }
    return ns / 1e6;
  };
  try {
    last = parse();
  } catch {
    fs.closeSync(fd);
    return undefined;
  }
  // a read that fails later (it has not been seen to) counts no wait rather than break a probe
  return () => {
    try {
      last = parse();
    } catch {
      // keep the last
    }
    return last;
  };
}

/** A probe's start, as the self-check saw it. */
export interface SelfMark {
  throttled: number;
}

export interface SelfCheck {
  /** A probe starts: the sampler runs while any probe does. */
  begin(): SelfMark;
  /**
   * performance.now(), for a time an interval starts at (`since` of a later `late`): the thread's run-queue
   * wait is read here too, so that only waits after it are the interval's.
   */
  now(): number;
  /**
   * How late this thread may have stamped a socket event at `at` (performance.now() of the stamp; it is read
   * there, so a stall between the stamp and this call is not the stamp's): the loop's delay then, or the
   * longest stall it saw end since `since` (when the interval being stamped began: the event came after).
   */
  late(since: number, at: number): number;
  /**
   * Of that, only the thread's waits for a CPU (its run queue, a throttled cgroup's included), for a stamp that
   * ends the thread's own work (a TLS handshake: its key exchange is the handshake's time, not lateness).
   */
  waited(since: number, at: number): number;
  /** The probe ended (the sampler stops when no probe runs); its cgroup's throttling over the span. */
  end(mark: SelfMark): number;
}

/** Ticks remembered (their time and lateness): a stamp looks back over those since its interval began. */
export const TICKS_KEPT = 64;

/** Run-queue readings remembered (their time and the wait so far): a stamp looks back over those since its interval began. */
export const LOOKS_KEPT = 256;

/** What a self-check reads besides its timer: each absent one counts 0. */
export interface SelfSources {
  /** The cgroup's throttling counter (throttleSource). */
  throttle?: ThrottleSource;
  /** This thread's run-queue wait so far, ms (runQueueClock). */
  runQueue?: () => number;
}

/** The self-check of the thread it is made on (and must be: the run-queue clock is that thread's). */
export function createSelfCheck({ throttle: source, runQueue }: SelfSources = { throttle: throttleSource(), runQueue: runQueueClock() }): SelfCheck {
  let running = 0;
  let timer: NodeJS.Timeout | undefined;
  let due = 0; // when the awaited tick should run (performance.now())
  const ranAt = new Float64Array(TICKS_KEPT).fill(-Infinity);
  const dueAt = new Float64Array(TICKS_KEPT);
  let next = 0;
  // the run-queue wait so far (ms) as read at each time: at ticks, interval starts and stamps
  const lookAt = new Float64Array(LOOKS_KEPT).fill(-Infinity);
  const waitAt = new Float64Array(LOOKS_KEPT);
  let nextLook = 0;
  const look = (t: number): void => {
    if (!runQueue) return;
    lookAt[nextLook] = t;
    waitAt[nextLook] = runQueue();
    nextLook = (nextLook + 1) % LOOKS_KEPT;
  };

  const tick = (): void => {
    const now = performance.now();
    look(now);
    ranAt[next] = now;
    dueAt[next] = due;
    next = (next + 1) % TICKS_KEPT;
    due = now + TICK_MS;
    timer = setTimeout(tick, TICK_MS);
  };
  const throttledNow = (): number => (source ? readThrottledMs(source) ?? 0 : 0);
  // The longest the thread waited for a CPU between two looks since `since` (the last: this stamp's, taken now): a
  // thread woken by the event and left runnable (another thread on its CPU, a throttled cgroup) runs no tick and
  // stamps late by that wait; the look at the interval's start keeps waits before it out. Never more than the
  // interval: its event came after it began (a counter's step can hold a wait begun before the look).
  const waited = (since: number, at: number): number => {
    look(at);
    let longest = 0;
    let base = Number.NaN;
    for (let k = 0; k < LOOKS_KEPT; k++) {
      const i = (nextLook + k) % LOOKS_KEPT; // oldest first
      const t = lookAt[i] as number;
      if (t === -Infinity) continue;
      const w = waitAt[i] as number;
      if (t > since && !Number.isNaN(base)) longest = Math.max(longest, w - base);
      base = w;
    }
    return Math.min(longest, Math.max(0, at - since));
  };

  return {
    begin(): SelfMark {
      if (running++ === 0) {
        due = performance.now() + TICK_MS;
        timer = setTimeout(tick, TICK_MS);
      }
      return { throttled: throttledNow() };
    },
    now(): number {
      const t = performance.now();
      look(t);
      return t;
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
      // (each term within the interval), and the thread's waits for a CPU
      return Math.max(late, waited(since, at));
    },
    waited,
    end(mark: SelfMark): number {
      if (--running === 0) {
        clearTimeout(timer);
        timer = undefined;
      }
      return Math.max(0, throttledNow() - mark.throttled);
    },
  };
}
