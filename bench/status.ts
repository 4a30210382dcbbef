/**
 * `npm run bench:status`: what the status page (--status) costs, at K = 64 neighbours. 64 stand-in
 * neighbours in this process (each the real heartbeat route on plain node:http, and the cells a heartbeat
 * probing all 64 answers at /status.json?cells=1), two heartbeats probing all 64 every second, one with --status and one
 * without, side by side. After 15 rounds: the page's and the JSON's size (the full 65 × 65 mesh), the
 * time to answer them, and both processes' VmRSS and RssAnon, idle and after 20 page views: each the
 * median and the minimum of 40 samples over 10 s (a single sample moves by ±10 MiB with the collector's
 * timing; the minimum is the floor after a collection). The 1 KiB req/s cost of --status is the
 * `status on` row of `npm run bench`.
 *
 *   npm run bench:status [-- --out FILE] [-- --views N]
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createHeartbeat } from '../src/http/heartbeat';
import { freePort } from '../scripts/free-port';
import { procMemory } from './memory';
import { markdownTable, mib } from './table';

const K = 64;
const ROUNDS = 15;
/** Page views after the idle sample (--views N). */
const VIEWS = process.argv.includes('--views') ? Number(process.argv[process.argv.indexOf('--views') + 1]) : 20;
const ROOT = path.resolve(__dirname, '..', '..');
const MAIN = path.join(ROOT, 'dist', 'main.js');

interface Sampled { rssMedian: number; rssMin: number; anonMedian: number; anonMin: number }

/** 40 samples of each pid over 10 s: median and minimum of VmRSS and RssAnon. */
async function sample(pids: number[]): Promise<Sampled[]> {
  const rss: number[][] = pids.map(() => []);
  const anon: number[][] = pids.map(() => []);
  for (let i = 0; i < 40; i++) {
    pids.forEach((pid, j) => {
      const m = procMemory(pid);
      if (m) {
        (rss[j] as number[]).push(m.rss);
        (anon[j] as number[]).push(m.anon);
      }
    });
    await new Promise((r) => setTimeout(r, 250));
  }
  const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] as number;
  return pids.map((_, j) => ({
    rssMedian: median(rss[j] as number[]), rssMin: Math.min(...(rss[j] as number[])),
    anonMedian: median(anon[j] as number[]), anonMin: Math.min(...(anon[j] as number[])),
  }));
}

const get = (port: number, p: string): Promise<{ status: number; body: Buffer; ms: number }> => new Promise((resolve, reject) => {
  const t0 = performance.now();
  http.get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), ms: performance.now() - t0 }));
  }).on('error', reject);
});

async function neighbours(): Promise<{ ports: number[]; close(): void }> {
  const heartbeat = createHeartbeat({ uri: '/heartbeat', min: 1, max: 1024 * 1024, uploadLimit: 1024 * 1024 });
  const servers: http.Server[] = [];
  const docs: string[] = [];
  for (let i = 0; i < K; i++) {
    const srv = http.createServer((req, res) => {
      if (heartbeat.matches(req.url ?? '')) return heartbeat.handle(req, res);
      if ((req.url ?? '') === '/status.json?cells=1') return void res.writeHead(200, { 'Content-Type': 'application/json' }).end(docs[i]);
      res.writeHead(404, { 'Content-Length': 0 }).end();
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    servers.push(srv);
  }
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  const now = new Date().toISOString();
  // what a heartbeat probing all 64 answers a neighbour assembling its mesh (src/status/mesh.ts, cellsDocument)
  // each with its own identity (src/status/identity.ts): the mesh view refuses an answer from anyone else
  ports.forEach((port, i) => {
    docs[i] = JSON.stringify({
      schema: 'heartbeat-status/1', time: now,
      identity: { id: (i + 1).toString(16).padStart(16, '0'), pod: `heartbeat-${i}`, namespace: 'heartbeat', node: `node-${i}`, podIP: null, address: '127.0.0.1', port, statusPort: port },
      cells: Object.fromEntries(ports.map((p) => [`127.0.0.1:${p}`, { outcome: 'ok', failing: false, p99Ms: 2.3, forSeconds: null }])),
    });
  });
  return { ports, close: () => { for (const s of servers) s.close(); } };
}

async function heartbeat(args: string[], targets: string): Promise<{ port: number; pid: number; stop(): void }> {
  const port = await freePort();
  const proc = spawn(process.execPath, [MAIN, '--host', '127.0.0.1', '--port', String(port), '--probe-targets', targets,
    '--probe-interval', '1000', '--probe-timeout', '1000', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    proc.stdout.on('data', (c: Buffer) => { if (/lifecycle.*listening/.test(c.toString())) resolve(); });
    proc.on('exit', (code) => reject(new Error(`heartbeat exited ${code}`)));
  });
  proc.stdout.resume();
  return { port, pid: proc.pid as number, stop: () => proc.kill('SIGTERM') };
}

async function main(): Promise<void> {
  const out = process.argv.includes('--out') ? process.argv[process.argv.indexOf('--out') + 1] as string : path.join(ROOT, 'bench', 'results', 'status.json');
  const n = await neighbours();
  const targets = n.ports.map((p) => `http://127.0.0.1:${p}`).join(',');
  const on = await heartbeat(['--status'], targets);
  const off = await heartbeat([], targets);
  process.stderr.write(`probing ${K} neighbours for ${ROUNDS} rounds...\n`);
  await new Promise((r) => setTimeout(r, ROUNDS * 1000));
  const [idleOn, idleOff] = await sample([on.pid, off.pid]) as [Sampled, Sampled];
  const page = await get(on.port, '/status');
  const json = await get(on.port, '/status.json');
  const meshJson = await get(on.port, '/status.json?mesh=1');
  const times: number[] = [];
  for (let i = 0; i < VIEWS; i++) {
    // every 6 s the mesh is assembled again (one assembly serves 5 s): views both ways
    times.push((await get(on.port, '/status')).ms);
    if (i % 5 === 4) await new Promise((r) => setTimeout(r, 6000));
  }
  const [viewedOn, viewedOff] = await sample([on.pid, off.pid]) as [Sampled, Sampled];
  on.stop();
  off.stop();
  n.close();
  times.sort((a, b) => a - b);
  const rowsInPage = (page.body.toString().match(/<tr/g) ?? []).length;
  // every neighbour's row read and accepted (its identity checked): the full mesh was measured
  const meshRows = (JSON.parse(meshJson.body.toString()) as { mesh?: { rows: { reachable: boolean }[] } }).mesh?.rows ?? [];
  const reachable = meshRows.filter((r) => r.reachable).length;
  if (reachable !== K + 1) process.stderr.write(`warning: only ${reachable - 1} of ${K} neighbours' rows were read\n`);
  const figures = {
    date: new Date().toISOString(), neighbours: K, rounds: ROUNDS,
    pageBytes: page.body.length, pageGzipBytes: (await import('node:zlib')).gzipSync(page.body).length, pageRows: rowsInPage,
    jsonBytes: json.body.length, meshJsonBytes: meshJson.body.length, meshRowsRead: reachable - 1,
    pageMs: { median: times[Math.floor(times.length / 2)], max: times[times.length - 1] },
    memory: { idle: { on: idleOn, off: idleOff }, viewed: { on: viewedOn, off: viewedOff } },
  };
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(figures, null, 2)}\n`);
  const d = (a: number, b: number): string => `${((a - b) / 1048576).toFixed(1)}`;
  const row = (name: string, i: Sampled, v: Sampled): string[] =>
    [name, `${mib(i.rssMedian)} / ${mib(i.rssMin)}`, `${mib(i.anonMedian)} / ${mib(i.anonMin)}`, `${mib(v.rssMedian)} / ${mib(v.rssMin)}`, `${mib(v.anonMedian)} / ${mib(v.anonMin)}`];
  process.stdout.write([
    `status page at K = ${K} neighbours (${ROUNDS} rounds of 1 s; a full 65 × 65 mesh)`,
    markdownTable(['what', 'figure'], [
      ['/status (HTML)', `${figures.pageBytes} bytes (${figures.pageGzipBytes} gzipped), ${rowsInPage} table rows`],
      ['/status.json', `${figures.jsonBytes} bytes; with ?mesh=1 ${figures.meshJsonBytes} bytes (${reachable - 1} of ${K} neighbours' rows read)`],
      ['/status answer time', `median ${times[Math.floor(times.length / 2)]?.toFixed(1)} ms, max ${times[times.length - 1]?.toFixed(1)} ms (${VIEWS} views, ${Math.ceil(VIEWS / 5)} mesh assemblies)`],
    ]),
    '',
    markdownTable(['heartbeat probing 64 (MiB, median / min)', 'VmRSS', 'RssAnon', `after ${VIEWS} views: VmRSS`, 'RssAnon'], [
      row('--status', idleOn, viewedOn),
      row('without', idleOff, viewedOff),
      ['difference', `${d(idleOn.rssMedian, idleOff.rssMedian)} / ${d(idleOn.rssMin, idleOff.rssMin)}`,
        `${d(idleOn.anonMedian, idleOff.anonMedian)} / ${d(idleOn.anonMin, idleOff.anonMin)}`,
        `${d(viewedOn.rssMedian, viewedOff.rssMedian)} / ${d(viewedOn.rssMin, viewedOff.rssMin)}`,
        `${d(viewedOn.anonMedian, viewedOff.anonMedian)} / ${d(viewedOn.anonMin, viewedOff.anonMin)}`],
    ]),
    '',
  ].join('\n'));
}

void main();
