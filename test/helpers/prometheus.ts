/**
 * Debian's Prometheus (package `prometheus`: the server and promtool) for the test:prometheus tier:
 * promtool runs, and a real Prometheus server on loopback with its own temporary config and storage
 * (never the packaged service).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { freePort, sleep } from './server';
import { requireTool } from './tools';
import { makeScratch, removeScratch } from '../../scripts/scratch';

export const PROMETHEUS_HINT =
  "npm run test:prometheus needs Debian's prometheus package (promtool and the server): apt-get install -y --no-install-recommends prometheus";

/** Throws one line naming the tool and the install command when it is missing (test/helpers/tools.ts). */
export function requirePrometheusTool(tool: 'promtool' | 'prometheus'): void {
  requireTool(tool, PROMETHEUS_HINT);
}

/** Runs promtool to completion (bounded), stdin optional. */
export function promtool(args: string[], opts: { input?: string; cwd?: string } = {}): { status: number | null; output: string } {
  const r = spawnSync('promtool', args, { encoding: 'utf8', input: opts.input, cwd: opts.cwd, timeout: 60_000 });
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

export interface RunningPrometheus {
  port: number;
  proc: ChildProcess;
  log: () => string;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
}

/** Starts `prometheus` on 127.0.0.1 with `config` (YAML) and `files` beside it; resolves once it is ready. */
export async function startPrometheus(config: string, files: Record<string, string> = {}): Promise<RunningPrometheus> {
  const dir = makeScratch('heartbeat-prometheus-');
  writeFileSync(path.join(dir, 'prometheus.yml'), config);
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), content);
  const port = await freePort();
  const proc = spawn('prometheus', [
    `--config.file=${path.join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout.on('data', (c: Buffer) => { log += c.toString(); });
  proc.stderr.on('data', (c: Buffer) => { log += c.toString(); });
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
  const running: RunningPrometheus = {
    port,
    proc,
    log: () => log,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const killer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(killer);
      }
      removeScratch(dir);
    },
  };
  const end = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) {
      await running.stop();
      throw new Error(`prometheus exited before it was ready:\n${log}`);
    }
    if (await get(port, '/-/ready').then((r) => r.status === 200, () => false)) return running;
    if (Date.now() > end) {
      await running.stop();
      throw new Error(`prometheus was not ready within 30 s:\n${log}`);
    }
    await sleep(200);
  }
}

function get(port: number, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** GET /api/v1/<what>; throws unless Prometheus answers status "success". */
export async function api<T>(port: number, what: string): Promise<T> {
  const r = await get(port, `/api/v1/${what}`);
  const body = JSON.parse(r.body) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`prometheus /api/v1/${what}: ${body.error ?? r.body}`);
  return body.data;
}

export interface VectorSample { metric: Record<string, string>; value: [number, string] }

/** An instant query; the result must be a vector. */
export async function query(port: number, promql: string): Promise<VectorSample[]> {
  const data = await api<{ resultType: string; result: VectorSample[] }>(port, `query?query=${encodeURIComponent(promql)}`);
  if (data.resultType !== 'vector') throw new Error(`expected a vector from ${promql}, got ${data.resultType}`);
  return data.result;
}

export interface ActiveAlert { labels: Record<string, string>; annotations: Record<string, string>; state: string }

export async function alerts(port: number): Promise<ActiveAlert[]> {
  return (await api<{ alerts: ActiveAlert[] }>(port, 'alerts')).alerts;
}

/** Polls `check` every 200 ms until it returns a value, or fails after `ms` naming `what`. */
export async function eventually<T>(what: string, ms: number, check: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await sleep(200);
  }
}
