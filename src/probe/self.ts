/**
 * The prober's own delay during a probe (`self_ms`): how long the probing thread could not
 * take its timestamps when it should have. Two measures over the probe's span, the larger kept:
 *
 * - **event-loop delay on the probing thread**: while a probe runs, a 1 ms timer ticks on this
 *   thread; every millisecond a tick is late (beyond `LATE_SLACK_MS`, the timer's own jitter)
 *   is a millisecond the thread ran something else, waited for a CPU, was collected or was
 *   throttled, and a socket event that came then was stamped that much late. The lateness of the
 *   tick still awaited when the probe ends counts too (the I/O that ends a probe runs before the
 *   timers of the same loop turn).
 * - **CPU throttling of its cgroup** (a pod's CPU limit): the growth of cgroup v2 `cpu.stat`
 *   `throttled_usec`, or v1 `throttled_time` (ns), read at the probe's start and end (two reads
 *   of a small file per probe, none per byte). Absent files mean 0.
 *
 * The larger, not the sum: a throttled thread's timer is late by the same time, so the two
 * mostly see one stall twice; the throttle counter is kept for the stalls the ticks miss (a
 * probe shorter than a tick), the ticks for delays that are not throttling (CPU contention,
 * collection, the thread's own other work).
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
  delay: number;
  throttled: number;
}

export interface SelfCheck {
  /** A probe starts: the sampler runs while any probe does. */
  begin(): SelfMark;
  /** The probe ended: its own delay in milliseconds (and the sampler stops when no probe runs). */
  end(mark: SelfMark): number;
}

/** The self-check of the thread it is made on. `source`: the throttle counter (undefined: none, 0). */
export function createSelfCheck(source: ThrottleSource | undefined = throttleSource()): SelfCheck {
  let running = 0;
  let timer: NodeJS.Timeout | undefined;
  let due = 0; // when the awaited tick should run (performance.now())
  let closed = 0; // ms of lateness of the ticks that ran

  const tick = (): void => {
    const now = performance.now();
    closed += Math.max(0, now - due - LATE_SLACK_MS);
    due = now + TICK_MS;
    timer = setTimeout(tick, TICK_MS);
  };
  /** Every ms of lateness so far, the awaited tick's included. */
  const delayNow = (): number => closed + Math.max(0, performance.now() - due - LATE_SLACK_MS);
  const throttledNow = (): number => (source ? readThrottledMs(source) ?? 0 : 0);

  return {
    begin(): SelfMark {
      if (running++ === 0) {
        due = performance.now() + TICK_MS;
        timer = setTimeout(tick, TICK_MS);
      }
      return { delay: delayNow(), throttled: throttledNow() };
    },
    end(mark: SelfMark): number {
      const delay = delayNow() - mark.delay;
      const throttled = throttledNow() - mark.throttled;
      if (--running === 0) {
        clearTimeout(timer);
        timer = undefined;
      }
      return Math.max(delay, throttled, 0);
    },
  };
}
