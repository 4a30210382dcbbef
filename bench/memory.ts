/**
 * Memory under the bench's full load, from /proc: one server process at a
 * time (heartbeat or the bare baseline), on a given Node with given flags.
 *
 * idle: VmRSS and RssAnon once started (after a short settle, no request yet).
 * Then the load: 1 KiB at full speed, 64 KiB, 1 MiB, three 1 GiB GETs; VmHWM
 * (the kernel's peak RSS) there is the peak without uploads. Then three
 * 256 MiB uploads; VmHWM after them is the peak. RssAnon has no high-water
 * mark in /proc, so it is sampled while the load runs and its maximum kept.
 */
import fs from 'node:fs';
import { CLIENT_HEADERS, type HttpFigures, type LoadJob, type TransferFigures } from './protocol';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

export interface ProcMemory {
  /** VmRSS, RssAnon, RssFile, VmHWM: bytes. */
  rss: number;
  anon: number;
  file: number;
  hwm: number;
}

/** /proc/PID/status, the memory lines; undefined once the process is gone (or off Linux). */
export function procMemory(pid: number): ProcMemory | undefined {
  let s: string;
  try {
    s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(s);
    return m ? Number(m[1]) * 1024 : NaN;
  };
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile'), hwm: kb('VmHWM') };
}

/** Samples a process's RssAnon until stopped; keeps the maximum. */
function anonSampler(pid: number, everyMs = 20): { max(): number; stop(): number } {
  let max = procMemory(pid)?.anon ?? NaN;
  const t = setInterval(() => {
    const m = procMemory(pid);
    if (m && !(m.anon <= max)) max = m.anon;
  }, everyMs);
  return { max: () => max, stop: () => (clearInterval(t), max) };
}

export interface MemoryFigures {
  idle: ProcMemory;
  /** After 1 KiB, 64 KiB, 1 MiB and the 1 GiB GETs: VmHWM, and the largest RssAnon seen. */
  peakBeforeUploads: number;
  peakAnonBeforeUploads: number;
  /** After the uploads too: VmHWM, and the largest RssAnon seen over the whole load. */
  peak: number;
  peakAnon: number;
  /** Right after the load. */
  after: ProcMemory;
  /** VmHWM and VmRSS after each step of the load, in order: where the memory went. */
  steps: { step: string; hwm: number; rss: number; anon: number }[];
}

export interface MemoryLoad {
  /** Seconds of each GET size at full speed. */
  seconds: number;
  connections: number;
  bigGets: number;
  uploads: number;
  /** Seconds between start and the idle reading. */
  settleSeconds: number;
}

export const FULL_LOAD: MemoryLoad = { seconds: 4, connections: 10, bigGets: 3, uploads: 3, settleSeconds: 2 };
export const QUICK_LOAD: MemoryLoad = { seconds: 1, connections: 10, bigGets: 1, uploads: 1, settleSeconds: 1 };
export const UPLOAD_BYTES = 256 * MiB;
export const BIG_GET_BYTES = GiB;

type Run = {
  (job: Extract<LoadJob, { kind: 'http' }>): Promise<HttpFigures>;
  (job: Extract<LoadJob, { kind: 'get' | 'upload' }>): Promise<TransferFigures>;
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Runs the load against one server (pid, base URL `http://host:port/heartbeat/`)
 * and reads its memory. Throws when a transfer goes wrong: a figure from a
 * failed load would flatter.
 */
export async function measureMemory(run: Run, pid: number, base: string, load: MemoryLoad): Promise<MemoryFigures> {
  await sleep(load.settleSeconds * 1000);
  const idle = procMemory(pid);
  if (!idle) throw new Error(`no /proc/${pid}/status: memory is measured on Linux only`);
  const anon = anonSampler(pid);
  const steps: MemoryFigures['steps'] = [];
  const check = (what: string, f: TransferFigures | HttpFigures): void => {
    if ('ok' in f ? !f.ok : f.non2xx > 0 || f.completed === 0) throw new Error(`memory load, ${what}: ${JSON.stringify(f)}`);
    const m = procMemory(pid);
    if (m) steps.push({ step: what, hwm: m.hwm, rss: m.rss, anon: m.anon });
  };
  const sizes = [{ bytes: KiB, client: 'autocannon' as const }, { bytes: 64 * KiB, client: 'lean' as const }, { bytes: MiB, client: 'lean' as const }];
  for (const s of sizes) {
    check(`GET ${s.bytes}`, await run({ kind: 'http', client: s.client, url: `${base}${s.bytes}`, connections: load.connections, seconds: load.seconds, headers: CLIENT_HEADERS }));
  }
  for (let i = 0; i < load.bigGets; i++) check('GET 1 GiB', await run({ kind: 'get', url: `${base}${BIG_GET_BYTES}`, bytes: BIG_GET_BYTES }));
  const peakBeforeUploads = procMemory(pid)?.hwm ?? NaN;
  const peakAnonBeforeUploads = anon.max();
  for (let i = 0; i < load.uploads; i++) check('POST 256 MiB', await run({ kind: 'upload', url: `${base}1`, bytes: UPLOAD_BYTES }));
  const after = procMemory(pid);
  const peakAnon = anon.stop();
  if (!after) throw new Error(`pid ${pid} exited during the memory load`);
  return { idle, peakBeforeUploads, peakAnonBeforeUploads, peak: after.hwm, peakAnon, after, steps };
}

// ---------------------------------------------------------------------------------------------
// The memory phase of `npm run bench`: every Node, the baseline and heartbeat, one at a time.

/** A Node binary the servers run on. */
export interface NodeBin {
  /** `image` (the Node the Dockerfile ships) or `system` (the one running the bench). */
  name: string;
  bin: string;
  version: string;
}

export interface MemoryRow extends MemoryFigures {
  node: string;
  version: string;
  server: 'baseline' | 'heartbeat';
  /** Peak after the uploads minus peak before them (VmHWM). */
  uploadGrowth: number;
}

/** Targets on heartbeat in the shipped configuration (the image's Node, the image's flags). */
export const MEMORY_TARGETS = { peakMax: 64 * MiB, idleMax: 48 * MiB, uploadGrowthMax: 8 * MiB };

export async function memoryPhase(
  nodes: NodeBin[],
  start: (server: 'baseline' | 'heartbeat', node: NodeBin) => Promise<{ pid: number; port: number; stop(): Promise<number | string> }>,
  run: Run,
  load: MemoryLoad,
  progress: (line: string) => void,
): Promise<MemoryRow[]> {
  const rows: MemoryRow[] = [];
  for (const node of nodes) {
    for (const server of ['baseline', 'heartbeat'] as const) {
      const s = await start(server, node);
      const f = await measureMemory(run, s.pid, `http://127.0.0.1:${s.port}/heartbeat/`, load).catch(async (e: unknown) => {
        await s.stop();
        throw e;
      });
      const code = await s.stop();
      if (code !== 0) throw new Error(`${server} on Node ${node.version} exited with ${code} on SIGTERM`);
      const row = { node: node.name, version: node.version, server, ...f, uploadGrowth: f.peak - f.peakBeforeUploads };
      rows.push(row);
      const m = (b: number): string => (b / MiB).toFixed(1);
      progress(`memory  Node ${node.version} (${node.name})  ${server.padEnd(9)}  idle ${m(f.idle.rss)} MiB (anon ${m(f.idle.anon)})  ` +
        `peak ${m(f.peakBeforeUploads)} -> ${m(f.peak)} MiB after uploads (anon ${m(f.peakAnon)})`);
    }
  }
  return rows;
}
