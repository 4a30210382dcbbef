/**
 * Where the time goes: a summary of a V8 .cpuprofile (written by
 * `node --cpu-prof`) as self time by function and by area of code, over the
 * whole profile or only the samples taken during given spans of time (e.g.
 * while one workload ran).
 */
import fs from 'node:fs';
import path from 'node:path';

interface CallFrame { functionName: string; url: string; lineNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame }
interface CpuProfile { nodes: ProfileNode[]; startTime: number; samples: number[]; timeDeltas: number[] }

/** A span of time on the monotonic clock (process.hrtime, which V8's profiler also uses), in microseconds. */
export type Window = [fromUs: number, toUs: number];

export interface ProfileSummary {
  file: string;
  /** Sampled time in milliseconds, idle included. */
  totalMs: number;
  /** Share of the busy (non-idle) time by area: heartbeat's code, libraries, Node's internals, V8/native. */
  areas: Record<string, number>;
  /** The functions with the most self time, as shares of the busy time. */
  top: { fn: string; share: number }[];
}

function area(url: string, fn: string): string {
  if (fn === '(idle)') return 'idle';
  if (fn === '(garbage collector)') return 'gc';
  if (!url) return 'native';
  if (url.startsWith('node:')) return 'node';
  if (url.includes('/node_modules/')) return 'libraries';
  return 'heartbeat';
}

export function summarizeProfile(file: string, windows?: Window[], topN = 12): ProfileSummary {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const inWindow = (t: number): boolean => !windows || windows.some(([a, b]) => t >= a && t <= b);
  let at = p.startTime;
  const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const self = new Map<string, number>();
  const areas: Record<string, number> = {};
  let total = 0;
  let busy = 0;
  p.samples.forEach((id, i) => {
    const delta = p.timeDeltas[i] ?? 0;
    at += delta;
    const dt = delta / 1000;
    const f = byId.get(id);
    if (!f || dt <= 0 || !inWindow(at)) return;
    total += dt;
    const a = area(f.url, f.functionName);
    if (a === 'idle') return;
    busy += dt;
    areas[a] = (areas[a] ?? 0) + dt;
    const where = f.url ? ` ${f.url.startsWith('node:') ? f.url : path.basename(f.url)}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'}${where}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  });
  const share = (ms: number): number => (busy > 0 ? ms / busy : 0);
  return {
    file,
    totalMs: total,
    areas: Object.fromEntries(Object.entries(areas).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, share(v)])),
    top: [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, topN).map(([fn, ms]) => ({ fn, share: share(ms) })),
  };
}
