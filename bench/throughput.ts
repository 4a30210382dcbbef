/**
 * The throughput rounds: the bare node:http baseline and the reference heartbeat through every GET size,
 * solo and side by side, round by round; each other configuration against the reference at 1 KiB (and by
 * the clock when it works by the clock); then the big transfers. What it returns is what the report reads.
 */
import type { NodeBin } from './memory';
import type { Options } from './options';
import { preflight, startHeartbeat, urlOf, type LoadWorker, type Server } from './servers';
import {
  httpStat, median, nowUs, rotate, sideStat, transferStat,
  type HttpStat, type Round, type SidePair, type SideStat, type TransferStat,
} from './stats';
import { CLIENT_HEADERS, type LoadClient, type TransferFigures } from './protocol';
import { num, pct } from './table';
import { BIG_GET, CONFIG_SIZE, CONFIGS, MiB, SIZES, UPLOAD, type Size } from './workloads';

export interface Throughput {
  clientFor(size: Size): LoadClient;
  http(s: Server, bytes: number): HttpStat;
  /** The side-by-side rounds of a and b (a's CPU per response over b's). */
  side(a: Server, b: Server, bytes: number): SideStat;
  /** The median idle share of a core a configuration used beyond the reference's (costBy 'idle' only). */
  idleShare(s: Server): number | undefined;
  transfer(which: 'get' | 'upload', s: Server): TransferStat;
  /** Peak RSS of each server (VmHWM), read before it stopped. */
  rss: Map<string, number | undefined>;
  baseline: Server;
  reference: Server;
  configServers: Server[];
}

export interface ThroughputSetup {
  o: Options;
  node: NodeBin;
  /** The servers' core and the probe peers' (undefined: not pinned). */
  core: number | undefined;
  peerCore: number | undefined;
  /** Two load workers: each server of a side-by-side pair gets its own. */
  load: LoadWorker;
  load2: LoadWorker;
  /** The baseline and the reference heartbeat, up and preflighted; every server started is pushed onto `servers` (stopped by the caller). */
  baseline: Server;
  reference: Server;
  servers: Server[];
  progress: (line: string) => void;
}

export async function throughputPhase(t: ThroughputSetup): Promise<Throughput> {
  const { o, node, core, peerCore, load, load2, baseline, reference, servers, progress } = t;
  const configServers: Server[] = [reference];
  const rss = new Map<string, number | undefined>();
  const clientFor = (size: Size): LoadClient => o.client ?? size.client;
  const serversAt = (): Server[] => [baseline, reference];
  /** One load worker's measurement of one server; `w` is the worker. */
  const measureWith = async (w: LoadWorker, s: Server, size: Size, seconds: number): Promise<Round> => {
    const bytes = size.bytes;
    const cpu0 = s.proc.cpuNs() ?? NaN;
    const load0 = w.cpuNs() ?? NaN;
    const t0 = nowUs();
    const f = await w.run({ kind: 'http', client: clientFor(size), url: urlOf(s, bytes), connections: o.connections, seconds, headers: CLIENT_HEADERS });
    const cpuUs = ((s.proc.cpuNs() ?? NaN) - cpu0) / 1000;
    const cpuUsPerReq = cpuUs / f.completed;
    const wallUs = nowUs() - t0;
    const serverBusy = cpuUs / wallUs;
    const loadBusy = ((w.cpuNs() ?? NaN) - load0) / 1000 / wallUs;
    s.served += f.completed;
    if (f.non2xx > 0 || f.completed === 0) throw new Error(`${s.key}: ${f.non2xx} non-2xx answers, ${f.completed} 2xx`);
    if (f.errors > 0) progress(`bench: warning: ${s.key} GET ${bytes}: ${f.errors} connection errors`);
    return { ...f, cpuUsPerReq, serverBusy, loadBusy };
  };
  const measure = (s: Server, size: Size, seconds: number): Promise<Round> => measureWith(load, s, size, seconds);

  for (const size of SIZES) {
    for (const s of serversAt()) await measure(s, size, o.warmupSeconds);
  }
  progress(`bench: warmed up (${o.warmupSeconds} s per server and size)`);

  const measured: Map<string, Round[]> = new Map();
  const cell = (s: Server, bytes: number): Round[] => {
    const k = `${s.key}@${bytes}`;
    if (!measured.has(k)) measured.set(k, []);
    return measured.get(k) as Round[];
  };
  const round = async (r: number, size: Size, pair: Server[]): Promise<void> => {
    for (const s of rotate(pair, r)) {
      const from = nowUs();
      const f = await measure(s, size, o.seconds);
      s.windows.set(size.bytes, [...(s.windows.get(size.bytes) ?? []), [from, nowUs()]]);
      cell(s, size.bytes).push(f);
      progress(`round ${r + 1}/${o.rounds}  GET ${size.label.padEnd(6)}  ${s.key.padEnd(18)} ${num(f.reqPerSec).padStart(8)} req/s  p50 ${f.p50Ms.toFixed(3)} ms  p99 ${f.p99Ms.toFixed(3)} ms  server CPU ${f.cpuUsPerReq.toFixed(1)} µs/req, busy ${pct(f.serverBusy)}, load busy ${pct(f.loadBusy)}`);
    }
  };
  // Side by side: both servers of a pair at full speed at once, each from its own worker (swapped
  // every round), so whatever else slows the machine for a while slows both alike (solo rounds here
  // swing by ±15% from one window to the next); compared by CPU time per response.
  const sideBySide: Map<string, SidePair[]> = new Map();
  const sideRound = async (r: number, size: Size, [a, b]: [Server, Server]): Promise<void> => {
    const [wa, wb] = r % 2 === 0 ? [load, load2] : [load2, load];
    const [fa, fb] = await Promise.all([measureWith(wa, a, size, o.seconds), measureWith(wb, b, size, o.seconds)]);
    const k = `${a.key}|${b.key}@${size.bytes}`;
    sideBySide.set(k, [...(sideBySide.get(k) ?? []), { a: fa, b: fb }]);
    progress(`round ${r + 1}/${o.rounds}  GET ${size.label.padEnd(6)}  side by side: ${a.key} ${fa.cpuUsPerReq.toFixed(1)} µs/req, ` +
      `${b.key} ${fb.cpuUsPerReq.toFixed(1)} µs/req (${(fa.cpuUsPerReq / fb.cpuUsPerReq).toFixed(3)}), server core busy ${pct(fa.serverBusy + fb.serverBusy)}`);
  };
  const side = (a: Server, b: Server, bytes: number): SidePair[] => sideBySide.get(`${a.key}|${b.key}@${bytes}`) ?? [];

  // Idle side by side: b's CPU time over a's while neither serves, as a share of one core. What a
  // configuration spends by the clock rather than per request (probing): at full speed it is the
  // share of req/s it takes. (Side by side at full speed each server has half the core, so such a
  // cost shows there twice over.)
  const idleShares: Map<string, number[]> = new Map();
  const idleRound = async (a: Server, b: Server): Promise<void> => {
    const [a0, b0, t0] = [a.proc.cpuNs() ?? NaN, b.proc.cpuNs() ?? NaN, nowUs()];
    await new Promise((r) => setTimeout(r, o.seconds * 1000));
    const wallUs = nowUs() - t0;
    const share = (((b.proc.cpuNs() ?? NaN) - b0) - ((a.proc.cpuNs() ?? NaN) - a0)) / 1000 / wallUs;
    idleShares.set(b.key, [...(idleShares.get(b.key) ?? []), share]);
    progress(`idle ${a.key} vs ${b.key}: ${b.key} used ${pct(share)} more of a core`);
  };

  for (let r = 0; r < o.rounds; r++) {
    for (const size of SIZES) {
      await round(r, size, serversAt());
      await sideRound(r, size, [baseline, reference]);
    }
  }

  // Each other configuration: its own process, its rounds interleaved with the reference's at
  // CONFIG_SIZE (so its cost is against the reference in the same minutes), then stopped.
  const configSize = SIZES.find((z) => z.bytes === CONFIG_SIZE) as Size;
  for (const config of CONFIGS.slice(1)) {
    const s = await startHeartbeat(o, core, config, node, peerCore);
    servers.push(s);
    configServers.push(s);
    await preflight([baseline, s]);
    // The same history as the reference's (every size), so neither of a pair is the less warmed.
    for (const size of SIZES) await measure(s, size, o.warmupSeconds);
    for (let r = 0; r < o.rounds; r++) {
      await round(r, configSize, [reference, s]);
      await sideRound(r, configSize, [reference, s]);
      if (config.costBy === 'idle') await idleRound(reference, s);
    }
    rss.set(s.key, s.proc.peakRss());
    const code = await s.proc.stop();
    await s.peers?.stop();
    if (code !== 0) throw new Error(`${s.key} exited with ${code} on SIGTERM`);
  }

  const gets: Map<string, TransferFigures[]> = new Map([[baseline.key, []], [reference.key, []]]);
  const uploads: Map<string, TransferFigures[]> = new Map([[baseline.key, []], [reference.key, []]]);
  for (const s of [baseline, reference]) {
    await load.run({ kind: 'get', url: urlOf(s, 64 * MiB), bytes: 64 * MiB });
    await load.run({ kind: 'upload', url: urlOf(s, 1), bytes: 64 * MiB });
    s.served += 2;
  }
  for (let r = 0; r < o.transferRounds; r++) {
    for (const s of rotate([baseline, reference], r)) {
      const g = await load.run({ kind: 'get', url: urlOf(s, BIG_GET.bytes), bytes: BIG_GET.bytes });
      gets.get(s.key)?.push(g);
      const u = await load.run({ kind: 'upload', url: urlOf(s, 1), bytes: UPLOAD.bytes });
      uploads.get(s.key)?.push(u);
      s.served += 2;
      progress(`transfer ${r + 1}/${o.transferRounds}  ${s.key.padEnd(18)} GET 1 GiB ${g.seconds.toFixed(3)} s (${g.detail})  POST 256 MiB ${u.seconds.toFixed(3)} s (${u.detail})`);
    }
  }

  for (const s of [baseline, reference]) rss.set(s.key, s.proc.peakRss());
  return {
    clientFor,
    http: (s, bytes) => httpStat(cell(s, bytes), bytes),
    side: (a, b, bytes) => sideStat(side(a, b, bytes)),
    idleShare: (s) => {
      const shares = idleShares.get(s.key);
      return shares ? median(shares) : undefined;
    },
    transfer: (which, s) => (which === 'get'
      ? transferStat(gets.get(s.key) as TransferFigures[], BIG_GET.bytes)
      : transferStat(uploads.get(s.key) as TransferFigures[], UPLOAD.bytes)),
    rss,
    baseline,
    reference,
    configServers,
  };
}
