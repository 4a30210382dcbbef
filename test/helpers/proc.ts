/** What a process holds, read from Linux's /proc: open file descriptors, resident memory, the fd limit. */
import fs from 'node:fs';
import { sleep } from './server';

/** Open file descriptors of `pid` (sockets included). */
export function fdCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/** Resident set size of `pid` in KiB (VmRSS). */
export function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/** The soft limit on open files of `pid` ('self' for this process). */
export function openFilesLimit(pid: number | 'self'): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(fs.readFileSync(`/proc/${pid}/limits`, 'utf8'));
  if (!m) throw new Error(`no open-files limit for ${pid}`);
  return m[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[1]);
}

/**
 * Polls `read` every `everyMs` until `ok(value)` or `ms` have passed; returns the
 * last value read either way (the caller asserts on it, with the numbers).
 */
export async function pollUntil(read: () => number, ok: (v: number) => boolean, ms: number, everyMs = 100): Promise<number> {
  const end = Date.now() + ms;
  let v = read();
  while (!ok(v) && Date.now() < end) {
    await sleep(everyMs);
    v = read();
  }
  return v;
}

/** A small seeded PRNG (mulberry32): the same seed gives the same sequence, so a failure reproduces. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed for randomised tests: RELIABILITY_SEED if set, else a fixed one. */
export function testSeed(fallback: number): number {
  const s = process.env.RELIABILITY_SEED;
  return s && /^\d+$/.test(s) ? Number(s) : fallback;
}

/** A live process's command line (Linux /proc), argv[0] first. */
export function cmdline(pid: number): string[] {
  return fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').filter(Boolean);
}

/** Whether the process `pid` still exists (signal 0). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
