/**
 * `npm run bench`: heartbeat as users run it (the compiled dist/main.js, its
 * own process), against a bare node:http baseline measured in the same run,
 * interleaved round by round, so the result is a ratio that survives a noisy
 * machine. The load comes from another process (bench/load.ts); with taskset,
 * servers run on core 0 and the load on core 1.
 *
 *   npm run bench [-- --quick] [-- --out FILE] [-- --profile]
 *
 * Prints a table on stdout (progress on stderr) and writes the figures as JSON.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { PATTERN } from '../src/http/payload';
import { imageNodeFlags } from '../test/helpers/deploy';
import { freePort } from '../test/helpers/server';
import { FULL_LOAD, MEMORY_TARGETS, memoryPhase, QUICK_LOAD, type MemoryRow, type NodeBin } from './memory';
import { probeCostPhase, type ProbeCostRow } from './probe-cost';
import { cpuNs, pinned, pinSelf, startServer, tasksetWorks, track, type ServerProc } from './procs';
import { summarizeProfile, type ProfileSummary, type Window } from './profile';
import { CLIENT_HEADERS, type HttpFigures, type LoadClient, type LoadJob, type LoadReply, type TransferFigures } from './protocol';
import { markdownTable, mib, num, pct } from './table';

// ---------------------------------------------------------------------------------------------
// What is measured. Rows are data: one more line here is one more row in the table and the JSON.

/**
 * Heartbeat configurations: one heartbeat process each. The first is the reference:
 * it runs the whole bench beside the baseline (every size, the big transfers). Each
 * other one is started after those rounds, measured at 1 KiB in rounds interleaved
 * with the reference, and stopped; its cost is its req/s drop against the reference.
 * `maxCost` makes the cost a target.
 */
export interface HeartbeatConfig {
  name: string;
  args: string[];
  maxCost?: number;
  /** Probe mode: this many peers (bench/peers.ts, on the load core) are given to it as --probe-targets. */
  probePeers?: number;
  /**
   * What its cost is: `request` (default), the CPU per response side by side; `idle`, the share of a
   * core it uses beyond the reference's while neither serves, for work done by the clock (probing).
   */
  costBy?: 'request' | 'idle';
}

export const CONFIGS: HeartbeatConfig[] = [
  { name: 'off', args: [] },
  { name: 'log tsv', args: ['--log', '--log-format', 'tsv'], maxCost: 0.20 },
  { name: 'log json', args: ['--log', '--log-format', 'json'], maxCost: 0.20 },
  { name: 'metrics on', args: ['--metrics'], maxCost: 0.10 },
  // issue 27: the status page on (its probe view fed by probe mode: npm run bench:status measures that at K = 64)
  { name: 'status on', args: ['--status'], maxCost: 0.05 },
  // issue 15: probing 10 peers every 1 s (1 KiB and 64 KiB each) while serving 1 KiB at full speed
  { name: 'probing 10 peers', args: ['--probe-interval', '1000', '--probe-timeout', '1000'], probePeers: 10, maxCost: 0.05, costBy: 'idle' },
];

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/**
 * GET sizes: `minRatio` vs baseline and `minGoTimes` vs Go are targets. `client`
 * is the load client (see LoadClient): autocannon where it outruns the server,
 * the lean client for big bodies, where autocannon is the bottleneck.
 */
const SIZES: readonly { label: string; bytes: number; minRatio: number; go: number; minGoTimes?: number; client: LoadClient }[] = [
  { label: '1 KiB', bytes: KiB, minRatio: 0.9, go: 86_600, client: 'autocannon' },
  { label: '64 KiB', bytes: 64 * KiB, minRatio: 0.95, go: 7_500, minGoTimes: 5, client: 'lean' },
  { label: '1 MiB', bytes: MiB, minRatio: 0.95, go: 433, minGoTimes: 5, client: 'lean' },
];

/** The size every configuration is measured at. */
const CONFIG_SIZE = KiB;

const BIG_GET = { bytes: GiB, maxSeconds: 0.3, goSeconds: 1.87 };
const UPLOAD = { bytes: 256 * MiB };
const PEAK_RSS_MAX = 64 * MiB;
/** Below this share of its core, the server was not what limited req/s: the run says so. */
const BUSY_ENOUGH = 0.8;
const GO_RSS = 10 * 1000 * 1000;

// ---------------------------------------------------------------------------------------------

const ROOT = path.resolve(__dirname, '..', '..');
const MAIN = path.join(ROOT, 'dist', 'main.js');
const BASELINE_JS = path.join(__dirname, 'baseline.js');
const LTS_NODE = path.join(ROOT, 'scripts', 'lts-node.mjs');
const LOAD_JS = path.join(__dirname, 'load.js');
const PEERS_JS = path.join(__dirname, 'peers.js');
const SERVER_CORE = 0;
const LOAD_CORE = 1;

interface Options {
  quick: boolean;
  rounds: number;
  seconds: number;
  warmupSeconds: number;
  transferRounds: number;
  connections: number;
  /** Forces one load client for every size. */
  client?: LoadClient;
  out: string;
  profile: boolean;
  /** Which Node runs the servers of the throughput rounds: `image`, `system` or a path. */
  node: string;
  /** Skip the memory phase (both Nodes). */
  memory: boolean;
  /** The Nodes of the memory phase: `image`, `system` or paths. */
  memoryNodes: string[];
}

const USAGE = `usage: npm run bench -- [--quick] [--rounds N] [--seconds S] [--connections N] [--client C] [--out FILE] [--profile]
  --quick        every measurement briefly (1 s, 2 rounds, one of each transfer): proves the harness works
  --rounds N     rounds of interleaved measurements (default 5; quick 2)
  --seconds S    seconds per measurement (default 5; quick 1)
  --connections N  keep-alive connections of the load client (default 10)
  --client C     autocannon or lean for every size (default: autocannon at 1 KiB, lean at 64 KiB and 1 MiB)
  --out FILE     JSON results (default bench/results/latest.json)
  --profile      run the servers under node --cpu-prof; profiles go next to --out, summarised on stdout
  --node N       the Node the throughput rounds run the servers on: image (default: the Dockerfile's
                 NODE_VERSION, via scripts/lts-node.mjs), system (the one running the bench) or a path.
                 Every server runs with the image's Node flags (Dockerfile ENTRYPOINT / ENV NODE_OPTIONS).
  --no-memory    skip the memory phase (idle and peak RSS of both servers on both Nodes)
  --memory-nodes LIST  the Nodes of the memory phase, comma-separated (default: image,system)
`;

function parseArgs(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const o: Options = {
    quick,
    rounds: quick ? 2 : 5,
    seconds: quick ? 1 : 5,
    warmupSeconds: quick ? 0.5 : 2,
    transferRounds: quick ? 1 : 3,
    connections: 10,
    out: path.join(ROOT, 'bench', 'results', 'latest.json'),
    profile: false,
    node: 'image',
    memory: true,
    memoryNodes: ['image', 'system'],
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const count = (): number => {
      const n = Number(value());
      if (!(n > 0)) throw new Error(`${a} needs a positive number`);
      return n;
    };
    if (a === '--quick') continue;
    else if (a === '--rounds') o.rounds = Math.round(count());
    else if (a === '--seconds') o.seconds = count();
    else if (a === '--connections') o.connections = Math.round(count());
    else if (a === '--out') o.out = path.resolve(value());
    else if (a === '--client') {
      const c = value();
      if (c !== 'autocannon' && c !== 'lean') throw new Error('--client is autocannon or lean');
      o.client = c;
    }
    else if (a === '--profile') o.profile = true;
    else if (a === '--node') o.node = value();
    else if (a === '--no-memory') o.memory = false;
    else if (a === '--memory-nodes') o.memoryNodes = value().split(',').filter(Boolean);
    else if (a === '--help' || a === '-h') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  return o;
}

const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);

const progress = (line: string): void => void process.stderr.write(`${line}\n`);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/** Round r measures the servers starting from a different one, so no server always goes first. */
const rotate = <T>(xs: T[], r: number): T[] => xs.map((_, i) => xs[(i + r) % xs.length] as T);

// ---------------------------------------------------------------------------------------------
// The load worker, over IPC.

interface LoadWorker {
  run(job: Extract<LoadJob, { kind: 'http' }>): Promise<HttpFigures>;
  run(job: Extract<LoadJob, { kind: 'get' | 'upload' }>): Promise<TransferFigures>;
  close(): void;
  /** CPU time the load worker has used so far, nanoseconds. */
  cpuNs(): number | undefined;
}

function startLoadWorker(core: number | undefined): LoadWorker {
  const [cmd, ...args] = pinned(core, [process.execPath, LOAD_JS]) as [string, ...string[]];
  const child = track(spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const pending = new Map<number, { resolve: (f: never) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  child.on('message', (r: LoadReply) => {
    const p = pending.get(r.id);
    pending.delete(r.id);
    if (r.ok) p?.resolve(r.figures as never);
    else p?.reject(new Error(`load worker: ${r.error}`));
  });
  child.on('exit', (code) => {
    for (const p of pending.values()) p.reject(new Error(`load worker exited (${code})`));
    pending.clear();
  });
  return {
    run(job: LoadJob): Promise<never> {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        child.send({ id, job });
      });
    },
    close() {
      if (child.connected) child.disconnect();
    },
    cpuNs: () => cpuNs(child.pid as number),
  };
}

// ---------------------------------------------------------------------------------------------
// The servers: on a chosen Node, with the image's Node flags, so the figures are the shipped configuration's.

const IMAGE_FLAGS = imageNodeFlags();

function nodeBin(which: string): NodeBin {
  const bin = which === 'system' ? process.execPath
    : which === 'image' ? execFileSync(process.execPath, [LTS_NODE], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim()
      : path.resolve(which);
  const version = execFileSync(bin, ['-v'], { encoding: 'utf8' }).trim();
  return { name: which === 'system' || which === 'image' ? which : 'path', bin, version };
}

/** The Node of the throughput rounds (set once in main). */
let serverNode: NodeBin = { name: 'system', bin: process.execPath, version: process.version };

/** argv prefix and environment of a server process on `node`. */
function nodeArgv(node: NodeBin): string[] {
  return [node.bin, ...IMAGE_FLAGS.entrypoint];
}
const SERVER_ENV = { ...process.env, NODE_OPTIONS: IMAGE_FLAGS.nodeOptions.join(' ') };

interface Server {
  /** `baseline` or `heartbeat <config>`. */
  key: string;
  config?: HeartbeatConfig;
  proc: ServerProc;
  /** Responses it served (to count log lines against). */
  served: number;
  profile?: string;
  /** When each measured round ran, by GET size: to read the profile for one workload. */
  windows: Map<number, Window[]>;
  /** The probe peers of a probing configuration, stopped with it. */
  peers?: ServerProc;
}

const slug = (s: string): string => s.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase();

function profileArgs(o: Options, key: string): { args: string[]; file?: string } {
  if (!o.profile) return { args: [] };
  const profileDir = path.join(path.dirname(o.out), 'profiles');
  fs.mkdirSync(profileDir, { recursive: true });
  const name = `${slug(key)}.cpuprofile`;
  fs.rmSync(path.join(profileDir, name), { force: true });
  return { args: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${name}`], file: path.join(profileDir, name) };
}

async function startBaseline(o: Options, core: number | undefined, node = serverNode): Promise<Server> {
  const port = await freePort();
  const n = profileArgs(o, 'baseline');
  const argv = pinned(core, [...nodeArgv(node), ...n.args, BASELINE_JS, String(port)]);
  return { key: 'baseline', proc: await startServer('baseline', argv, port, /^listening /m, SERVER_ENV), served: 0, profile: n.file, windows: new Map() };
}

/** The peers a probing configuration probes: one process, `count` ports, on the load core (not the server's). */
async function startPeers(count: number, core: number | undefined): Promise<{ proc: ServerProc; targets: string }> {
  let ports = '';
  const proc = await startServer(`${count} probe peers`, pinned(core, [process.execPath, PEERS_JS, String(count)]), 0, /^listening ([0-9,]+)$/m,
    undefined, (head) => { ports = /^listening ([0-9,]+)$/m.exec(head)?.[1] ?? ''; });
  return { proc, targets: ports.split(',').map((p) => `http://127.0.0.1:${p}`).join(',') };
}

async function startHeartbeat(
  o: Options, core: number | undefined, config: HeartbeatConfig, node = serverNode, peerCore?: number,
): Promise<Server> {
  const key = `heartbeat ${config.name}`;
  const port = await freePort();
  const n = profileArgs(o, key);
  const peers = config.probePeers ? await startPeers(config.probePeers, peerCore) : undefined;
  const argv = pinned(core, [
    ...nodeArgv(node), ...n.args, MAIN,
    '--host', '127.0.0.1', '--port', String(port), '--max', String(GiB), ...config.args,
    ...(peers ? ['--probe-targets', peers.targets] : []),
  ]);
  const proc = await startServer(key, argv, port, /\blifecycle\b.*\blistening\b/, SERVER_ENV);
  return { key, config, proc, served: 0, profile: n.file, windows: new Map(), peers: peers?.proc };
}

const urlOf = (s: Server, bytes: number): string => `http://127.0.0.1:${s.proc.port}/heartbeat/${bytes}`;

function fetchOnce(url: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

const COMPARED_HEADERS = ['content-type', 'content-length', 'cache-control', 'x-content-type-options'];

/** Before measuring: every server answers every size with the same status, headers and bytes. */
async function preflight(servers: Server[]): Promise<void> {
  for (const size of SIZES) {
    const expected = Buffer.from(PATTERN.repeat(size.bytes / PATTERN.length), 'latin1');
    let reference: string | undefined;
    for (const s of servers) {
      const r = await fetchOnce(urlOf(s, size.bytes));
      s.served++;
      const summary = JSON.stringify([r.status, ...COMPARED_HEADERS.map((h) => r.headers[h])]);
      if (r.status !== 200 || !r.body.equals(expected)) throw new Error(`${s.key}: GET ${size.label} is not the pattern (status ${r.status})`);
      reference ??= summary;
      if (summary !== reference) throw new Error(`${s.key}: GET ${size.label} answers ${summary}, baseline ${reference}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Results.

/** One autocannon measurement, with the server CPU time it took per response. */
type Round = HttpFigures & { cpuUsPerReq: number; serverBusy: number; loadBusy: number };

interface HttpStat {
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

interface TransferStat {
  seconds: number;
  mbPerSec: number;
  bytes: number;
  ok: boolean;
  detail: string;
  rounds: number[];
}

interface Target {
  name: string;
  measured: number;
  unit: 'x' | 'req/s' | 's' | '%' | 'MiB';
  limit: number;
  pass: boolean;
}

/** One side-by-side round: `a` and `b` under load at the same time. */
interface SidePair { a: Round; b: Round }

/**
 * Side-by-side rounds of a pair: `ratio` is a's CPU time per response over b's (median of the rounds'
 * ratios, with their range): how many responses b gives per core for each one a gives. Immune to what
 * slows the whole machine for a while, which moves solo rounds by ±15% here.
 */
interface SideStat {
  ratio: number;
  min: number;
  max: number;
  aCpuUsPerReq: number;
  bCpuUsPerReq: number;
  /** The server core's busy share while both ran (both servers' CPU over wall time). */
  serverBusy: number;
  rounds: number[];
}

function sideStat(pairs: SidePair[]): SideStat {
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

function httpStat(figs: Round[], bytes: number): HttpStat {
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

function transferStat(figs: TransferFigures[], bytes: number): TransferStat {
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

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm run bench does)`);
  const cores = os.cpus().length;
  const pin = tasksetWorks(cores);
  const pinning = pin
    ? `taskset: servers on core ${SERVER_CORE}, load worker and harness on core ${LOAD_CORE}`
    : `not pinned (${cores < 2 ? 'fewer than 2 cores' : 'taskset not available'})`;
  if (pin) pinSelf(LOAD_CORE);
  progress(`bench: ${pinning}`);
  serverNode = nodeBin(o.node);
  const memoryNodes = [...new Map(o.memoryNodes.map(nodeBin).map((n) => [n.bin, n])).values()];
  progress(`bench: servers on Node ${serverNode.version} (${serverNode.name}) with the image's flags: ${[...IMAGE_FLAGS.nodeOptions, ...IMAGE_FLAGS.entrypoint].join(' ') || '(none)'}`);
  progress(`bench: ${o.rounds} rounds x ${o.seconds} s per measurement, ${o.connections} connections${o.profile ? ', profiling' : ''}`);

  const load = startLoadWorker(pin ? LOAD_CORE : undefined);
  // A second worker (same core) for the side-by-side rounds: each server of a pair gets its own load.
  const load2 = startLoadWorker(pin ? LOAD_CORE : undefined);
  const core = pin ? SERVER_CORE : undefined;
  // Only the baseline and the reference heartbeat run through the size rounds; each other
  // configuration is started for its own rounds (interleaved with the reference) and stopped
  // after, so no more than three servers share the server core at a time: with all five up
  // together, whichever was started last measured 20-30% slower whatever its configuration.
  const servers: Server[] = [await startBaseline(o, core), await startHeartbeat(o, core, CONFIGS[0] as HeartbeatConfig)];
  const [baseline, reference] = servers as [Server, Server];
  const configServers: Server[] = [reference];
  const rss = new Map<string, number | undefined>();
  try {
    await preflight(servers);
    progress(`bench: ${servers.length} servers up, same status, headers and bytes at ${SIZES.map((s) => s.label).join(', ')}`);

    const clientFor = (size: (typeof SIZES)[number]): LoadClient => o.client ?? size.client;
    const serversAt = (): Server[] => [baseline, reference];
    /** One load worker's measurement of one server; `w` is the worker. */
    const measureWith = async (w: LoadWorker, s: Server, size: (typeof SIZES)[number], seconds: number): Promise<Round> => {
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
    const measure = (s: Server, size: (typeof SIZES)[number], seconds: number): Promise<Round> => measureWith(load, s, size, seconds);

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
    const round = async (r: number, size: (typeof SIZES)[number], pair: Server[]): Promise<void> => {
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
    const sideRound = async (r: number, size: (typeof SIZES)[number], [a, b]: [Server, Server]): Promise<void> => {
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
    const configSize = SIZES.find((z) => z.bytes === CONFIG_SIZE) as (typeof SIZES)[number];
    for (const config of CONFIGS.slice(1)) {
      const s = await startHeartbeat(o, core, config, serverNode, pin ? LOAD_CORE : undefined);
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
    const exits = await Promise.all([baseline, reference].map((s) => s.proc.stop()));
    [baseline, reference].forEach((s, i) => { if (exits[i] !== 0) throw new Error(`${s.key} exited with ${exits[i]} on SIGTERM`); });

    // Memory: each server alone on the server core, on every Node, under the same load (bench/memory.ts).
    const memory = o.memory
      ? await memoryPhase(memoryNodes, async (which, node) => {
        const s = which === 'baseline' ? await startBaseline({ ...o, profile: false }, core, node)
          : await startHeartbeat({ ...o, profile: false }, core, CONFIGS[0] as HeartbeatConfig, node);
        return { pid: s.proc.pid, port: s.proc.port, stop: () => s.proc.stop() };
      }, load.run.bind(load), o.quick ? QUICK_LOAD : FULL_LOAD, progress)
      : [];
    load.close();
    load2.close();

    const probeCost = await probeCostPhase({
      quick: o.quick, main: MAIN, nodeArgv: nodeArgv(serverNode), env: SERVER_ENV, serverCore: core, peerCore: pin ? LOAD_CORE : undefined,
      freePort, progress,
    });

    const results = report(o, pinning, {
      cores,
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
      memory,
      probeCost,
    });
    fs.mkdirSync(path.dirname(o.out), { recursive: true });
    fs.writeFileSync(o.out, JSON.stringify(results, null, 2) + '\n');
    process.stdout.write(`\nresults: ${path.relative(process.cwd(), o.out) || o.out}\n`);
  } finally {
    load.close();
    load2.close();
    await Promise.all(servers.flatMap((s) => [s.proc.stop(), ...(s.peers ? [s.peers.stop()] : [])]));
  }
}

interface Measured {
  cores: number;
  clientFor(size: (typeof SIZES)[number]): LoadClient;
  http(s: Server, bytes: number): HttpStat;
  /** The side-by-side rounds of a and b (a's CPU per response over b's). */
  side(a: Server, b: Server, bytes: number): SideStat;
  /** The median idle share of a core a configuration used beyond the reference's (costBy 'idle' only). */
  idleShare(s: Server): number | undefined;
  transfer(which: 'get' | 'upload', s: Server): TransferStat;
  rss: Map<string, number | undefined>;
  baseline: Server;
  reference: Server;
  configServers: Server[];
  memory: MemoryRow[];
  /** Probe mode at fleet scale: one heartbeat probing K = 64 every 10 s (bench/probe-cost.ts). */
  probeCost: ProbeCostRow;
}

function report(o: Options, pinning: string, m: Measured): Record<string, unknown> {
  const out = (s = ''): void => void process.stdout.write(`${s}\n`);
  const date = new Date().toISOString();
  const machine = {
    cores: m.cores,
    model: os.cpus()[0]?.model ?? 'unknown',
    node: process.version,
    serverNode: { ...serverNode, flags: [...IMAGE_FLAGS.nodeOptions, ...IMAGE_FLAGS.entrypoint] },
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    memoryBytes: os.totalmem(),
    pinning,
  };

  const throughput = SIZES.map((size) => {
    const b = m.http(m.baseline, size.bytes);
    const h = m.http(m.reference, size.bytes);
    const sideBySide = m.side(m.baseline, m.reference, size.bytes);
    return {
      size: size.label,
      bytes: size.bytes,
      client: m.clientFor(size),
      baseline: b,
      heartbeat: h,
      /** The target's figure: responses per core, heartbeat over baseline, side by side. */
      ratio: sideBySide.ratio,
      sideBySide,
      soloRatio: h.reqPerSec / b.reqPerSec,
      cpuRatio: b.cpuUsPerReq / h.cpuUsPerReq,
      goReqPerSec: size.go,
      vsGo: h.reqPerSec / size.go,
    };
  });
  const ref = m.http(m.reference, CONFIG_SIZE);
  const configs = m.configServers.map((s) => {
    const st = m.http(s, CONFIG_SIZE);
    const c = s.config as HeartbeatConfig;
    const logLines = s.proc.lines();
    const sideBySide = s === m.reference ? undefined : m.side(m.reference, s, CONFIG_SIZE);
    const idleShare = m.idleShare(s);
    return {
      name: c.name,
      args: c.args,
      ...st,
      /** The target's figures: responses per core against the reference, side by side (or by the clock: costBy). */
      ratio: sideBySide?.ratio ?? 1,
      cost: idleShare ?? (sideBySide ? 1 - sideBySide.ratio : 0),
      costBy: c.costBy ?? 'request',
      sideBySide,
      idleShare,
      soloCost: 1 - st.reqPerSec / ref.reqPerSec,
      cpuCost: st.cpuUsPerReq / ref.cpuUsPerReq - 1,
      maxCost: c.maxCost,
      requestsServed: s.served,
      stdoutLines: logLines,
      peakRssBytes: m.rss.get(s.key),
    };
  });
  const transfers = {
    get: { bytes: BIG_GET.bytes, baseline: m.transfer('get', m.baseline), heartbeat: m.transfer('get', m.reference), goSeconds: BIG_GET.goSeconds },
    upload: { bytes: UPLOAD.bytes, baseline: m.transfer('upload', m.baseline), heartbeat: m.transfer('upload', m.reference) },
  };
  const hbRss = configs.map((c) => c.peakRssBytes).filter((x): x is number => x !== undefined);
  const peakRss = {
    maxHeartbeatBytes: hbRss.length === configs.length ? Math.max(...hbRss) : undefined,
    baselineBytes: m.rss.get(m.baseline.key),
    byConfig: Object.fromEntries(configs.map((c) => [c.name, c.peakRssBytes])),
  };

  const targets: Target[] = [];
  const target = (name: string, measured: number, unit: Target['unit'], cmp: '>=' | '<=', limit: number, ok = true): void =>
    void targets.push({ name, measured, unit, limit, pass: ok && Number.isFinite(measured) && (cmp === '>=' ? measured >= limit : measured <= limit) });
  SIZES.forEach((size, i) => {
    const t = throughput[i];
    target(`GET ${size.label}: heartbeat >= ${size.minRatio}x baseline req/s per core (side by side)`, t?.ratio ?? NaN, 'x', '>=', size.minRatio);
  });
  SIZES.forEach((size, i) => {
    const t = throughput[i];
    if (size.minGoTimes === undefined) return;
    target(`GET ${size.label}: >= ${size.minGoTimes}x Go's ${num(size.go)} req/s`, t?.heartbeat.reqPerSec ?? NaN, 'req/s', '>=', size.minGoTimes * size.go);
  });
  target(`GET 1 GiB in <= ${BIG_GET.maxSeconds} s, every byte checked`, transfers.get.heartbeat.seconds, 's', '<=', BIG_GET.maxSeconds, transfers.get.heartbeat.ok);
  for (const c of configs) {
    if (c.maxCost === undefined) continue;
    const how = c.costBy === 'idle' ? 'of a core, by the clock (idle side by side)' : 'of req/s per core at 1 KiB (side by side)';
    target(`${c.name}: costs <= ${Math.round(c.maxCost * 100)}% ${how} vs ${CONFIGS[0]?.name}`, c.cost * 100, '%', '<=', c.maxCost * 100);
  }
  target(`peak RSS of every heartbeat process <= ${PEAK_RSS_MAX / MiB} MiB (throughput rounds, Node ${serverNode.version})`,
    (peakRss.maxHeartbeatBytes ?? NaN) / MiB, 'MiB', '<=', PEAK_RSS_MAX / MiB);
  // Memory targets: heartbeat in the shipped configuration (the image's Node with the image's flags).
  const shipped = m.memory.find((r) => r.node === 'image' && r.server === 'heartbeat');
  if (shipped) {
    const floor = m.memory.find((r) => r.node === 'image' && r.server === 'baseline');
    const vs = (key: 'peak' | 'idle'): string => (floor ? `; bare node:http ${mib(key === 'peak' ? floor.peak : floor.idle.rss)}` : '');
    target(`memory, Node ${shipped.version}: heartbeat peak RSS (VmHWM) under the full load <= ${MEMORY_TARGETS.peakMax / MiB} MiB${vs('peak')}`,
      shipped.peak / MiB, 'MiB', '<=', MEMORY_TARGETS.peakMax / MiB);
    target(`memory, Node ${shipped.version}: heartbeat idle RSS <= ${MEMORY_TARGETS.idleMax / MiB} MiB${vs('idle')}`,
      shipped.idle.rss / MiB, 'MiB', '<=', MEMORY_TARGETS.idleMax / MiB);
    target(`memory, Node ${shipped.version}: uploads grow heartbeat's peak by <= ${MEMORY_TARGETS.uploadGrowthMax / MiB} MiB`,
      shipped.uploadGrowth / MiB, 'MiB', '<=', MEMORY_TARGETS.uploadGrowthMax / MiB);
  }

  // --- the table
  const busy = (st: HttpStat): string => `${pct(st.serverBusy)} / ${pct(st.loadBusy)}`;
  out(`heartbeat bench  ${date}`);
  out(`machine: ${machine.cores} x ${machine.model}, ${machine.platform}, Node ${machine.node}`);
  out(`servers: Node ${serverNode.version} (${serverNode.name}) with the image's flags ${machine.serverNode.flags.join(' ') || '(none)'}`);
  out(`${pinning}`);
  out(`${o.quick ? 'QUICK (figures are rough): ' : ''}${o.rounds} rounds x ${o.seconds} s per measurement, interleaved; medians; ${o.connections} keep-alive connections; MB = 10^6 bytes`);
  out('side by side: each round also loads both servers of a pair at once (one load worker each), and compares their CPU time per response: ' +
    'the targets\' figures (median, range over the rounds)');
  out();
  const range = (st: SideStat, f: (x: number) => string): string => `${f(st.ratio)} (${f(st.min)}–${f(st.max)})`;
  const times = (x: number): string => `${x.toFixed(2)}x`;
  out(markdownTable(['GET', 'client', 'server', 'req/s', 'p50 ms', 'p99 ms', 'MB/s', 'CPU µs/req', 'busy server/load', 'vs baseline', 'vs baseline (CPU)',
    'side by side µs/req', 'side by side vs baseline', 'vs Go'],
    throughput.flatMap((t) => [
      [t.size, t.client, 'baseline', num(t.baseline.reqPerSec), t.baseline.p50Ms.toFixed(3), t.baseline.p99Ms.toFixed(3), num(t.baseline.mbPerSec),
        t.baseline.cpuUsPerReq.toFixed(1), busy(t.baseline), '', '', t.sideBySide.aCpuUsPerReq.toFixed(1), '', ''],
      [t.size, t.client, 'heartbeat', num(t.heartbeat.reqPerSec), t.heartbeat.p50Ms.toFixed(3), t.heartbeat.p99Ms.toFixed(3), num(t.heartbeat.mbPerSec),
        t.heartbeat.cpuUsPerReq.toFixed(1), busy(t.heartbeat), times(t.soloRatio), times(t.cpuRatio),
        t.sideBySide.bCpuUsPerReq.toFixed(1), range(t.sideBySide, times), `${t.vsGo.toFixed(1)}x of ${num(t.goReqPerSec)}`],
    ])));
  out();
  const tr = (what: string, t: TransferStat, server: string, note: string): string[] =>
    [what, server, t.seconds.toFixed(3), num(t.mbPerSec), `${t.ok ? '' : 'FAILED: '}${t.detail}${note}`];
  out(markdownTable(['transfer', 'server', 'seconds', 'MB/s', 'check'], [
    tr('GET 1 GiB', transfers.get.baseline, 'baseline', ''),
    tr('GET 1 GiB', transfers.get.heartbeat, 'heartbeat', ` (Go: ${BIG_GET.goSeconds} s)`),
    tr('POST 256 MiB', transfers.upload.baseline, 'baseline', ''),
    tr('POST 256 MiB', transfers.upload.heartbeat, 'heartbeat', ''),
  ]));
  out();
  const first = CONFIGS[0]?.name;
  const costOf = (x: number): string => pct(1 - x);
  out(markdownTable(['heartbeat at 1 KiB', 'flags', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', 'busy server/load', `cost vs ${first}`,
    `CPU cost vs ${first}`, `side by side cost vs ${first}`, 'idle CPU share', 'stdout lines / requests', 'peak RSS MiB'], [
    ...configs.map((c) => [c.name, c.args.join(' ') || '—', num(c.reqPerSec), c.p50Ms.toFixed(3), c.p99Ms.toFixed(3), c.cpuUsPerReq.toFixed(1),
      busy(c), c.sideBySide ? pct(c.soloCost) : '—', c.sideBySide ? pct(c.cpuCost) : '—',
      // the range of a cost runs the other way from its ratio's
      c.sideBySide ? `${costOf(c.sideBySide.ratio)} (${costOf(c.sideBySide.max)}–${costOf(c.sideBySide.min)})` : '—',
      c.idleShare === undefined ? '' : pct(c.idleShare),
      `${num(c.stdoutLines)} / ${num(c.requestsServed)}`, mib(c.peakRssBytes)]),
    ['baseline', 'bare node:http', num(throughput[0]?.baseline.reqPerSec ?? NaN), '', '', (throughput[0]?.baseline.cpuUsPerReq ?? NaN).toFixed(1),
      throughput[0] ? busy(throughput[0].baseline) : '', '', '', '', '', '', mib(peakRss.baselineBytes)],
  ]));
  out(`(Go heartbeat: ${mib(GO_RSS)} MiB RSS)`);
  out();
  if (m.memory.length > 0) {
    out(`memory, each server alone, image flags ${[...IMAGE_FLAGS.nodeOptions, ...IMAGE_FLAGS.entrypoint].join(' ') || '(none)'}; ` +
      'load: 1 KiB, 64 KiB, 1 MiB at full speed, 1 GiB GETs, then 256 MiB uploads; MiB from /proc/PID/status');
    out(markdownTable(['Node', 'server', 'idle RSS', 'idle RssAnon', 'peak before uploads (VmHWM)', 'peak RSS (VmHWM)', 'peak RssAnon', 'uploads added'],
      m.memory.map((r) => [`${r.version} (${r.node})`, r.server, mib(r.idle.rss), mib(r.idle.anon), mib(r.peakBeforeUploads), mib(r.peak),
        mib(r.peakAnon), mib(r.uploadGrowth)])));
    out(`(Go heartbeat: ${mib(GO_RSS)} MiB)`);
    out();
  }
  const pc = m.probeCost;
  out(`probe mode at fleet scale: one heartbeat probing K = ${pc.peers} neighbours every ${pc.intervalMs / 1000} s (1 KiB and 64 KiB each, ` +
    'new connections, --metrics), beside one that does not probe, both otherwise idle; MiB from /proc/PID/status at the end');
  out(markdownTable(['rounds measured', 'CPU beyond the reference', 'CPU ms per round', 'probes not ok', 'prober VmHWM', 'prober RssAnon',
    'reference VmHWM', 'reference RssAnon'], [[String(pc.rounds), pct(pc.cpuShare), pc.cpuMsPerRound.toFixed(1), `${pc.notOk} of ${pc.probes}`,
    mib(pc.prober.hwm), mib(pc.prober.anon), mib(pc.reference.hwm), mib(pc.reference.anon)]]));
  out();
  out('targets:');
  for (const t of targets) {
    const show = (v: number): string => (t.unit === 'req/s' ? num(v) : t.unit === 's' ? v.toFixed(3) : v.toFixed(t.unit === 'x' ? 2 : 1));
    out(`  ${t.pass ? 'PASS' : 'MISS'}  ${t.name}: ${show(t.measured)}${t.unit === 'x' ? 'x' : ` ${t.unit}`}`);
  }

  // Rows where the server's core was not busy: something else set the pace.
  const rows = [
    ...throughput.flatMap((t) => [[`GET ${t.size} baseline`, t.baseline] as const, [`GET ${t.size} heartbeat`, t.heartbeat] as const]),
    ...configs.slice(1).map((c) => [`1 KiB ${c.name}`, c] as const),
  ];
  const idle = rows.filter(([, st]) => st.serverBusy < BUSY_ENOUGH).map(([name]) => name);
  const warnings: string[] = [];
  if (idle.length > 0) {
    warnings.push(`the server's core was less than ${pct(BUSY_ENOUGH)} busy in ${idle.length} of ${rows.length} rows (${idle.join(', ')}): ` +
      'the load client or other processes on the machine set the pace there, so those req/s (and ratios) are not the server\'s; ' +
      'CPU µs/req is the steadier comparison');
  }
  for (const w of warnings) out(`\nnote: ${w}`);

  let profiles: (ProfileSummary & { server: string; workload: string })[] | undefined;
  if (o.profile) {
    profiles = [];
    for (const s of [m.baseline, ...m.configServers]) {
      if (!s.profile || !fs.existsSync(s.profile)) continue;
      for (const size of SIZES) {
        const windows = s.windows.get(size.bytes);
        if (!windows) continue;
        const p = { server: s.key, workload: `GET ${size.label}`, ...summarizeProfile(s.profile, windows, 10) };
        profiles.push(p);
        out();
        out(`profile ${s.key}, GET ${size.label} rounds only (${path.relative(process.cwd(), p.file)}); busy time by area: ${
          Object.entries(p.areas).map(([a, v]) => `${a} ${pct(v)}`).join(', ')}`);
        for (const t of p.top) out(`  ${pct(t.share).padStart(6)}  ${t.fn}`);
      }
    }
  }

  return {
    date,
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    quick: o.quick,
    settings: { rounds: o.rounds, seconds: o.seconds, warmupSeconds: o.warmupSeconds, transferRounds: o.transferRounds, connections: o.connections },
    machine,
    throughput,
    transfers,
    configs,
    peakRss,
    memory: m.memory,
    probeCost: m.probeCost,
    targets,
    warnings,
    ...(profiles ? { profiles } : {}),
  };
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
