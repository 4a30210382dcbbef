/**
 * Soak: the compiled heartbeat on loopback under a mix of requests at full
 * speed, until a request count or a duration is reached (whichever first).
 * Every response is checked (status, full length, every byte of the
 * pattern); errors are counted by kind; the server's RSS and open fds are
 * sampled at the start (after a warm-up) and at the end.
 *
 *   npm run soak -- --duration 60 --requests 1000000
 *
 * Flags: --duration SECONDS (60), --requests N (1000000), --connections N (32),
 * --workers N (client processes, 1), --warmup SECONDS (5), --log (server logs
 * every request; the soak then checks one line per response), --seed N,
 * --mix default|upload (upload: half the requests are POSTs of 1 to 64 MiB,
 * to show that uploads do not grow the server's memory).
 * The server runs with the image's Node flags (the Dockerfile's ENTRYPOINT).
 * Exit code 0 when there were no errors.
 */
import { fork } from 'node:child_process';
import { imageNodeFlags } from './dockerfile';
import { fdCount, prng, rssKiB } from '../test/helpers/proc';
import {
  heartbeatProblem, KeepAliveConnection, RequestFailure, requestBytes, type FailureKind,
} from '../test/helpers/raw-http';
import { startServer } from '../test/helpers/server';

interface Options {
  duration: number;
  requests: number;
  connections: number;
  workers: number;
  warmup: number;
  log: boolean;
  seed: number;
  mix: MixName;
}

const DEFAULTS: Options = { duration: 60, requests: 1_000_000, connections: 32, workers: 1, warmup: 5, log: false, seed: 1, mix: 'default' };

const MiB = 1024 * 1024;
const get = (kind: string, weight: number, size: number) => ({ kind, weight, spec: { method: 'GET', target: `/heartbeat/${size}` }, size });
const post = (kind: string, weight: number, body: number) => ({ kind, weight, spec: { method: 'POST', target: '/heartbeat/1024', body }, size: 1024 });

/** The request mixes: weight, what, expected response size. */
const MIXES = {
  default: [get('GET 1 KiB', 80, 1024), get('GET 64 KiB', 12, 65536), get('GET 1 MiB', 1, MiB), post('POST 16 KiB upload', 7, 16 * 1024)],
  // Half uploads, from 1 to 64 MiB (a quarter of the uploads each size), half GETs.
  upload: [get('GET 1 KiB', 40, 1024), get('GET 64 KiB', 8, 65536), get('GET 1 MiB', 2, MiB),
    post('POST 1 MiB upload', 12.5, MiB), post('POST 4 MiB upload', 12.5, 4 * MiB), post('POST 16 MiB upload', 12.5, 16 * MiB),
    post('POST 64 MiB upload', 12.5, 64 * MiB)],
};
type MixName = keyof typeof MIXES;
const isMix = (m: string): m is MixName => Object.hasOwn(MIXES, m);

/** The mix's requests, built once (the upload mix's bodies: 85 MiB in each client process). */
function buildMix(name: MixName) {
  const mix = MIXES[name].map((m) => ({ ...m, bytes: requestBytes(m.spec) }));
  return { mix, total: mix.reduce((a, m) => a + m.weight, 0) };
}

interface Counts {
  done: number;
  byKind: Record<string, number>;
  errors: Partial<Record<FailureKind | 'wrong response', number>>;
  /** The first few error messages, to see what went wrong. */
  samples: string[];
}

type WorkerMessage = { type: 'progress' | 'final'; counts: Counts };

function usage(msg: string): never {
  process.stderr.write(`soak: ${msg}\nFlags: --duration SECONDS --requests N --connections N --workers N --warmup SECONDS --log --seed N --mix default|upload\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const o = { ...DEFAULTS };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = (argv[i] as string).split('=', 2) as [string, string | undefined];
    if (flag === '--log') {
      o.log = true;
      continue;
    }
    const key = flag.replace(/^--/, '') as keyof Options;
    if (!(key in DEFAULTS) || key === 'log') usage(`unknown flag ${flag}`);
    const value = inline ?? argv[++i];
    if (key === 'mix') {
      if (value === undefined || !isMix(value)) usage(`--mix is one of ${Object.keys(MIXES).join(', ')}`);
      o.mix = value;
      continue;
    }
    if (value === undefined || !/^\d+$/.test(value) || Number(value) < (key === 'warmup' ? 0 : 1)) usage(`${flag} needs a whole number`);
    (o as unknown as Record<string, number>)[key] = Number(value);
  }
  return o;
}

// ---------------------------------------------------------------- worker ---

async function worker(port: number, connections: number, budget: number, deadline: number, seed: number, mixName: MixName): Promise<void> {
  const { mix: MIX, total: TOTAL_WEIGHT } = buildMix(mixName);
  const counts: Counts = { done: 0, byKind: {}, errors: {}, samples: [] };
  let issued = 0;
  const fail = (kind: FailureKind | 'wrong response', msg: string): void => {
    counts.errors[kind] = (counts.errors[kind] ?? 0) + 1;
    if (counts.samples.length < 10) counts.samples.push(`${kind}: ${msg}`);
  };
  const loop = async (c: number): Promise<void> => {
    const rng = prng(seed * 1000 + c);
    let conn: KeepAliveConnection | undefined;
    while (issued < budget && Date.now() < deadline) {
      issued++;
      let r = rng() * TOTAL_WEIGHT;
      const m = MIX.find((x) => (r -= x.weight) < 0) ?? MIX[0]!;
      try {
        if (!conn?.reusable) {
          conn?.close();
          conn = await KeepAliveConnection.connect(port, { timeoutMs: 30_000 });
        }
        const res = await conn.send(m.bytes);
        const problem = heartbeatProblem(res, m.size);
        if (problem) fail('wrong response', `${m.kind}: ${problem}`);
        counts.done++;
        counts.byKind[m.kind] = (counts.byKind[m.kind] ?? 0) + 1;
      } catch (e) {
        if (!(e instanceof RequestFailure)) throw e;
        fail(e.kind, `${m.kind}: ${e.message}`);
        conn?.close();
        conn = undefined;
      }
    }
    conn?.close();
  };
  const progress = setInterval(() => process.send?.({ type: 'progress', counts } satisfies WorkerMessage), 1000);
  await Promise.all(Array.from({ length: connections }, (_, c) => loop(c)));
  clearInterval(progress);
  process.send?.({ type: 'final', counts } satisfies WorkerMessage, () => process.exit(0));
}

// ---------------------------------------------------------------- parent ---

const MB = 1024; // KiB per MiB, for RSS in KiB
const fmt = (n: number): string => n.toLocaleString('en-US');
const mb = (kib: number): string => `${(kib / MB).toFixed(1)} MiB`;

function merge(all: Counts[]): Counts {
  const out: Counts = { done: 0, byKind: {}, errors: {}, samples: [] };
  for (const c of all) {
    out.done += c.done;
    for (const [k, v] of Object.entries(c.byKind)) out.byKind[k] = (out.byKind[k] ?? 0) + v;
    for (const [k, v] of Object.entries(c.errors)) out.errors[k as FailureKind] = (out.errors[k as FailureKind] ?? 0) + (v ?? 0);
    out.samples.push(...c.samples);
  }
  return out;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const out = (s: string): boolean => process.stdout.write(`${s}\n`);
  const flags = imageNodeFlags();
  const nodeOptions = [...flags.nodeOptions, ...flags.entrypoint].join(' ');
  const MIX = MIXES[o.mix];
  out(`soak: up to ${fmt(o.requests)} requests or ${o.duration} s, ${o.connections} keep-alive connections in ${o.workers} client process(es), ` +
    `mix ${o.mix}, server request log ${o.log ? 'on' : 'off'}, Node ${process.env.HEARTBEAT_TEST_NODE ? '(HEARTBEAT_TEST_NODE)' : process.version} ` +
    `with the image's flags ${nodeOptions || '(none)'}, loopback only`);

  // Loopback only: the server listens on 127.0.0.1 and every client connects there.
  const hb = await startServer(['--host', '127.0.0.1', ...(o.log ? ['--log'] : [])], { env: { NODE_OPTIONS: nodeOptions } });
  const pid = hb.proc.pid as number;
  // The request log is counted and dropped as it comes (not kept: it may be a million lines).
  let logged = 0;
  const countLog = (): void => {
    for (const l of hb.lines.splice(0, hb.lines.length)) if (l.includes('\trequest\t')) logged++;
  };
  const idle = { rss: rssKiB(pid), fds: fdCount(pid) };

  const started = Date.now();
  const deadline = started + o.duration * 1000;
  const latest: Counts[] = [];
  const finals: Promise<void>[] = [];
  for (let w = 0; w < o.workers; w++) {
    const budget = Math.floor(o.requests / o.workers) + (w < o.requests % o.workers ? 1 : 0);
    const conns = Math.floor(o.connections / o.workers) + (w < o.connections % o.workers ? 1 : 0);
    const child = fork(__filename, ['--worker', String(hb.port), String(conns), String(budget), String(deadline), String(o.seed * 100 + w), o.mix]);
    finals.push(new Promise((resolve, reject) => {
      child.on('message', (m: WorkerMessage) => {
        latest[w] = m.counts;
        if (m.type === 'final') resolve();
      });
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`client process ${w} exited ${code}`))));
    }));
  }
  const allDone = Promise.all(finals);

  // Server samples under load: after the warm-up, half-way (by requests or time), and the last one.
  type Sample = { rss: number; fds: number; secs: number; done: number };
  let start: Sample | undefined;
  let middle: Sample | undefined;
  let last: Sample | undefined;
  let maxRss = 0;
  let finished = false;
  void allDone.then(() => { finished = true; });
  while (!finished) {
    await Promise.race([allDone, new Promise((r) => setTimeout(r, 1000))]);
    countLog();
    if (finished) break;
    const secs = (Date.now() - started) / 1000;
    const sample: Sample = { rss: rssKiB(pid), fds: fdCount(pid), secs, done: merge(latest).done };
    maxRss = Math.max(maxRss, sample.rss);
    if (!start && secs >= o.warmup) start = sample;
    if (!middle && (sample.done >= o.requests / 2 || secs >= o.duration / 2)) middle = sample;
    last = sample;
    out(`  ${secs.toFixed(0)} s: ${fmt(sample.done)} requests, server RSS ${mb(sample.rss)}, fds ${sample.fds}`);
  }
  const elapsed = (Date.now() - started) / 1000;
  await allDone;
  const total = merge(latest);
  // The clients have closed their connections: the server settles.
  await new Promise((r) => setTimeout(r, 2000));
  const after = { rss: rssKiB(pid), fds: fdCount(pid) };
  const code = await hb.stop('SIGTERM');
  countLog();

  const errorCount = Object.values(total.errors).reduce((a, b) => a + (b ?? 0), 0);
  const first: Sample = start ?? { ...idle, secs: 0, done: 0 };
  const end: Sample = last ?? first;
  const growth = end.rss - first.rss;
  const signed = (kib: number): string => `${kib >= 0 ? '+' : ''}${mb(kib)}`;
  const at = (x: Sample): string => `${mb(x.rss)} (${x.secs.toFixed(0)} s, ${fmt(x.done)} requests)`;
  out('');
  out(`requests: ${fmt(total.done)} complete in ${elapsed.toFixed(1)} s (${fmt(Math.round(total.done / elapsed))} req/s)`);
  out(`  ${MIX.map((m) => `${m.kind}: ${fmt(total.byKind[m.kind] ?? 0)}`).join(', ')}`);
  out(`errors: ${fmt(errorCount)}${errorCount ? ` (${Object.entries(total.errors).map(([k, v]) => `${k}: ${fmt(v ?? 0)}`).join(', ')})` : ''}`);
  for (const m of total.samples.slice(0, 10)) out(`  ${m}`);
  if (o.log) out(`log: ${fmt(logged)} request lines for ${fmt(total.done)} complete responses${logged === total.done ? '' : ' (MISMATCH)'}`);
  out(`server RSS: idle ${mb(idle.rss)}; start ${at(first)}; half-way ${middle ? at(middle) : '-'}; end ${at(end)}; max ${mb(maxRss)}; ` +
    `2 s after the load ${mb(after.rss)}`);
  out(`  growth start -> end ${signed(growth)}${middle ? `; half-way -> end ${signed(end.rss - middle.rss)}` : ''}`);
  out(`server fds: idle ${idle.fds}; start ${first.fds}; end ${end.fds} (${o.connections} client connections); 2 s after the load ${after.fds}`);
  out(`server exit on SIGTERM: ${code}`);
  // The upload mix moves ~10 GB a minute, not a million requests: its target is the memory's.
  const minRequests = o.mix === 'upload' ? 0 : 1_000_000;
  const met = total.done >= minRequests && errorCount === 0 && growth <= 5 * MB && (!o.log || logged === total.done);
  out(`target (${minRequests ? `${fmt(minRequests)} requests, ` : ''}0 errors, RSS growth <= 5 MiB): ${met ? 'met' : 'not met'}`);
  process.exitCode = errorCount === 0 && code === 0 && (!o.log || logged === total.done) ? 0 : 1;
}

if (process.argv[2] === '--worker') {
  const [port, connections, budget, deadline, seed] = process.argv.slice(3, 8).map(Number) as [number, number, number, number, number];
  const mix = process.argv[8] ?? 'default';
  void worker(port, connections, budget, deadline, seed, isMix(mix) ? mix : 'default');
} else {
  main().catch((e: unknown) => {
    process.stderr.write(`soak: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
