/**
 * The benchmark harness works end to end: `--quick` runs every workload against
 * the compiled heartbeat and the baseline, and writes every figure. Speed is
 * not asserted here (the machine is shared); only that each figure is there.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { makeScratch, removeScratch } from '../scripts/scratch';

const RUN = path.join(__dirname, '..', 'bench', 'run.js');
const GiB = 1024 ** 3;

interface Stat { reqPerSec: number; p50Ms: number; p99Ms: number; mbPerSec: number; cpuUsPerReq: number; serverBusy: number; loadBusy: number }
/** Side-by-side rounds: a's CPU per response over b's, per round; the median is the target's figure. */
interface Side { ratio: number; min: number; max: number; aCpuUsPerReq: number; bCpuUsPerReq: number; serverBusy: number; rounds: number[] }
interface Transfer { seconds: number; mbPerSec: number; bytes: number; ok: boolean }
interface Results {
  date: string;
  quick: boolean;
  settings: { rounds: number };
  machine: { cores: number; model: string; node: string; pinning: string; serverNode: { name: string; version: string; flags: string[] } };
  throughput: { size: string; bytes: number; baseline: Stat; heartbeat: Stat; ratio: number; cpuRatio: number; soloRatio: number; sideBySide: Side }[];
  transfers: { get: { baseline: Transfer; heartbeat: Transfer }; upload: { baseline: Transfer; heartbeat: Transfer } };
  configs: (Stat & { name: string; args: string[]; ratio: number; cost: number; cpuCost: number; maxCost?: number;
    costBy: 'request' | 'idle'; sideBySide?: Side; idleShare?: number;
    requestsServed: number; stdoutLines: number; peakRssBytes: number })[];
  peakRss: { maxHeartbeatBytes: number; baselineBytes: number };
  memory: { node: string; version: string; server: string; idle: { rss: number; anon: number; file: number }; peakBeforeUploads: number;
    peak: number; peakAnon: number; uploadGrowth: number; steps: { step: string; hwm: number }[] }[];
  probeCost: { peers: number; intervalMs: number; rounds: number; windowSeconds: number; cpuShare: number; cpuMsPerRound: number; probes: number;
    notOk: number; prober: { hwm: number; anon: number; rss: number }; reference: { hwm: number; anon: number; rss: number } };
  targets: { name: string; measured: number; limit: number; pass: boolean }[];
  warnings: string[];
}

function positive(value: unknown, what: string): void {
  assert.ok(typeof value === 'number' && Number.isFinite(value) && value > 0, `${what} = ${String(value)}`);
}

function side(s: Side | undefined, what: string, rounds: number): void {
  assert.ok(s, `${what}: side-by-side rounds`);
  assert.equal(s.rounds.length, rounds, `${what}: a side-by-side round per round`);
  for (const r of s.rounds) positive(r, `${what} side-by-side round`);
  assert.ok(s.min <= s.ratio && s.ratio <= s.max, `${what}: median within its range`);
  positive(s.aCpuUsPerReq, `${what} side a µs/req`);
  positive(s.bCpuUsPerReq, `${what} side b µs/req`);
}

function stat(s: Stat, what: string): void {
  for (const k of ['reqPerSec', 'p50Ms', 'p99Ms', 'mbPerSec', 'cpuUsPerReq', 'serverBusy', 'loadBusy'] as const) positive(s[k], `${what}.${k}`);
  assert.ok(s.p99Ms >= s.p50Ms, `${what}: p99 ${s.p99Ms} < p50 ${s.p50Ms}`);
}

/**
 * npm test needs only Node: there the bench runs its servers on this Node (with the image's flags).
 * Under npm run test:lts (HEARTBEAT_TEST_NODE set) it runs as `npm run bench` does: the servers on
 * the image's Node, and the memory phase on both.
 */
const ON_IMAGE_NODE = Boolean(process.env.HEARTBEAT_TEST_NODE);
const NODE_ARGS = ON_IMAGE_NODE ? [] : ['--node', 'system', '--memory-nodes', 'system'];

describe(`npm run bench -- --quick ${NODE_ARGS.join(' ')}`.trim(), function () {
  this.timeout(240_000);
  let dir: string | undefined;
  let stdout = '';
  let stderr = '';
  let code: number | null;
  let results: Results;

  before(async () => {
    dir = makeScratch('heartbeat-bench-');
    const out = path.join(dir, 'results.json');
    code = await new Promise<number | null>((resolve) => {
      const proc = spawn(process.execPath, [RUN, '--quick', ...NODE_ARGS, '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
      proc.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
      proc.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
      proc.on('close', resolve);
    });
    assert.equal(code, 0, `bench failed:\n${stderr}`);
    results = JSON.parse(fs.readFileSync(out, 'utf8')) as Results;
  });

  after(() => {
    if (dir) removeScratch(dir);
  });

  it('says when, on what and how it ran', () => {
    assert.ok(!Number.isNaN(Date.parse(results.date)));
    assert.equal(results.quick, true);
    positive(results.machine.cores, 'machine.cores');
    assert.ok(results.machine.model.length > 0 && /^v\d+\./.test(results.machine.node));
    assert.ok(stdout.includes(results.machine.pinning), 'the table says how processes were pinned');
  });

  it('measures heartbeat and the baseline at 1 KiB, 64 KiB and 1 MiB', () => {
    assert.deepEqual(results.throughput.map((t) => t.bytes), [1024, 64 * 1024, 1024 * 1024]);
    for (const t of results.throughput) {
      stat(t.baseline, `${t.size} baseline`);
      stat(t.heartbeat, `${t.size} heartbeat`);
      positive(t.cpuRatio, `${t.size} cpuRatio`);
      positive(t.soloRatio, `${t.size} soloRatio`);
      // the target's ratio is the side-by-side rounds' median: one per round, both servers measured
      side(t.sideBySide, `${t.size}`, results.settings.rounds);
      assert.equal(t.ratio, t.sideBySide.ratio);
    }
  });

  it('times a checked 1 GiB GET and a 256 MiB upload on both servers', () => {
    for (const server of ['baseline', 'heartbeat'] as const) {
      const get = results.transfers.get[server];
      const up = results.transfers.upload[server];
      assert.ok(get.ok && up.ok, `${server}: ${JSON.stringify({ get, up })}`);
      assert.equal(get.bytes, GiB);
      assert.equal(up.bytes, 256 * 1024 * 1024);
      for (const [k, v] of Object.entries({ get: get.seconds, getMB: get.mbPerSec, up: up.seconds, upMB: up.mbPerSec })) positive(v, `${server} ${k}`);
    }
  });

  it('measures every configuration at 1 KiB, its cost and its peak RSS; logging rows log every request', () => {
    assert.deepEqual(results.configs.slice(0, 3).map((c) => c.name), ['off', 'log tsv', 'log json']);
    for (const c of results.configs) {
      stat(c, c.name);
      positive(c.ratio, `${c.name}.ratio`);
      positive(c.peakRssBytes, `${c.name}.peakRssBytes`);
      assert.ok(Number.isFinite(c.cost) && Number.isFinite(c.cpuCost), `${c.name} cost`);
      if (c.args.includes('--log')) assert.ok(c.stdoutLines >= c.requestsServed, `${c.name}: ${c.stdoutLines} lines for ${c.requestsServed} requests`);
      else assert.ok(c.stdoutLines < c.requestsServed, `${c.name}: ${c.stdoutLines} lines with logging off`);
    }
    // the probing row probed its 10 peers: at least one round of 20 probe lines beside its 5 lifecycle lines
    const probing = results.configs.find((c) => c.name === 'probing 10 peers');
    assert.ok(probing && probing.maxCost === 0.05 && probing.args.includes('--probe-interval'), 'a probing row with its 5% target');
    // probing is costed by the clock: its share of a core beyond off's while neither serves
    assert.equal(probing.costBy, 'idle');
    assert.ok(typeof probing.idleShare === 'number' && Number.isFinite(probing.idleShare), `probing idleShare ${probing.idleShare}`);
    assert.equal(probing.cost, probing.idleShare);
    // every other configuration by the request, side by side with off
    for (const c of results.configs.slice(1)) {
      side(c.sideBySide, c.name, results.settings.rounds);
      if (c.costBy === 'request') assert.equal(c.cost, 1 - (c.sideBySide as Side).ratio);
    }
    assert.equal(results.configs[0]?.sideBySide, undefined, 'off is the reference');
    assert.ok(probing.stdoutLines >= 5 + 20, `probing row: ${probing.stdoutLines} stdout lines`);
    positive(results.peakRss.maxHeartbeatBytes, 'peakRss.maxHeartbeatBytes');
    positive(results.peakRss.baselineBytes, 'peakRss.baselineBytes');
  });

  it(`runs the servers on ${ON_IMAGE_NODE ? 'the image\'s Node (the Dockerfile\'s NODE_VERSION)' : 'this Node'} with the image's Node flags`, () => {
    const dockerfile = fs.readFileSync(path.join(__dirname, '..', '..', 'Dockerfile'), 'utf8');
    const version = /^ARG NODE_VERSION=(\S+)$/m.exec(dockerfile)?.[1];
    assert.equal(results.machine.serverNode.name, ON_IMAGE_NODE ? 'image' : 'system');
    assert.equal(results.machine.serverNode.version, ON_IMAGE_NODE ? `v${version}` : process.version);
    assert.ok(results.machine.serverNode.flags.some((f) => f.startsWith('--max-old-space-size=')), JSON.stringify(results.machine.serverNode));
    for (const f of results.machine.serverNode.flags) assert.ok(dockerfile.includes(f), `${f} is not in the Dockerfile`);
  });

  it(`measures idle and peak memory of the baseline and heartbeat on ${ON_IMAGE_NODE ? 'the image\'s Node and on this one' : 'this Node'}`, () => {
    assert.deepEqual(results.memory.map((r) => `${r.node} ${r.server}`),
      [...(ON_IMAGE_NODE ? ['image baseline', 'image heartbeat'] : []), 'system baseline', 'system heartbeat']);
    assert.equal(results.memory.at(-1)?.version, process.version);
    for (const r of results.memory) {
      const what = `${r.node} ${r.server}`;
      for (const [k, v] of Object.entries({ idle: r.idle.rss, idleAnon: r.idle.anon, before: r.peakBeforeUploads, peak: r.peak, peakAnon: r.peakAnon })) positive(v, `${what} ${k}`);
      assert.ok(r.peak >= r.peakBeforeUploads && r.peakBeforeUploads >= r.idle.rss, `${what}: the peak only grows`);
      assert.ok(r.peakAnon <= r.peak && r.idle.anon + r.idle.file <= r.idle.rss + 1024 * 1024, `${what}: RssAnon is part of RSS`);
      assert.deepEqual(r.steps.map((s) => s.step), ['GET 1024', 'GET 65536', 'GET 1048576', 'GET 1 GiB', 'POST 256 MiB']);
      assert.ok(stdout.includes(`| ${r.version} (${r.node})`), `no table row for ${what}`);
    }
  });

  it('measures one heartbeat probing K = 64 neighbours by the clock: CPU beyond one that does not probe, and the memory of both', () => {
    const p = results.probeCost;
    assert.equal(p.peers, 64);
    assert.equal(p.intervalMs, 1000, 'quick: every 1 s (npm run bench: every 10 s)');
    assert.ok(p.rounds >= 1, `rounds measured: ${p.rounds}`);
    assert.ok(p.probes >= 64 * 2 * (p.rounds + 1), `every peer probed at both sizes each round: ${p.probes}`);
    assert.ok(Number.isFinite(p.cpuShare) && Number.isFinite(p.cpuMsPerRound), JSON.stringify(p));
    for (const [k, v] of Object.entries({ ...p.prober, ...Object.fromEntries(Object.entries(p.reference).map(([a, b]) => [`ref ${a}`, b])) })) positive(v, k);
    assert.match(stdout, /probe mode at fleet scale: one heartbeat probing K = 64 neighbours every 1 s/);
  });

  it('checks every target and prints PASS or MISS for each', () => {
    assert.ok(Array.isArray(results.warnings));
    const withCost = results.configs.filter((c) => c.maxCost !== undefined).length;
    // 3 ratios vs baseline, 2 vs Go, 1 GiB, the configurations' costs, peak RSS; memory (of the shipped
    // configuration, so only with the image's Node): peak, idle, uploads
    assert.equal(results.targets.length, 3 + 2 + 1 + withCost + 1 + (ON_IMAGE_NODE ? 3 : 0));
    for (const t of results.targets) {
      positive(t.limit, `${t.name} limit`);
      assert.ok(Number.isFinite(t.measured), `${t.name}: ${t.measured}`);
      assert.equal(typeof t.pass, 'boolean');
      assert.ok(stdout.includes(`| ${t.pass ? 'PASS' : 'MISS'} | ${t.name} `), `no row for ${t.name} in the targets table`);
    }
  });
});
