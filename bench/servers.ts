/**
 * The processes of the throughput rounds: the servers (bare node:http baseline, heartbeat in each
 * configuration, probe peers) on a chosen Node with the image's Node flags, so the figures are the
 * shipped configuration's; and the load worker (bench/load.ts) they are measured with, over IPC.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { PATTERN } from '../src/http/payload';
import { imageNodeFlags } from '../scripts/dockerfile';
import { freePort } from '../scripts/free-port';
import type { NodeBin } from './memory';
import { ROOT, type Options } from './options';
import { cpuNs, pinned, startServer, track, type ServerProc } from './procs';
import type { Window } from './profile';
import type { HttpFigures, LoadJob, LoadReply, TransferFigures } from './protocol';
import { GiB, SIZES, type HeartbeatConfig } from './workloads';

export const MAIN = path.join(ROOT, 'dist', 'main.js');
const BASELINE_JS = path.join(__dirname, 'baseline.js');
const LTS_NODE = path.join(ROOT, 'scripts', 'lts-node.mjs');
const LOAD_JS = path.join(__dirname, 'load.js');
const PEERS_JS = path.join(__dirname, 'peers.js');

export const IMAGE_FLAGS = imageNodeFlags();

export function nodeBin(which: string): NodeBin {
  const bin = which === 'system' ? process.execPath
    : which === 'image' ? execFileSync(process.execPath, [LTS_NODE], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim()
      : path.resolve(which);
  const version = execFileSync(bin, ['-v'], { encoding: 'utf8' }).trim();
  return { name: which === 'system' || which === 'image' ? which : 'path', bin, version };
}

/** argv prefix and environment of a server process on `node`. */
export function nodeArgv(node: NodeBin): string[] {
  return [node.bin, ...IMAGE_FLAGS.entrypoint];
}
export const SERVER_ENV = { ...process.env, NODE_OPTIONS: IMAGE_FLAGS.nodeOptions.join(' ') };

export interface Server {
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

export async function startBaseline(o: Options, core: number | undefined, node: NodeBin): Promise<Server> {
  const port = await freePort();
  const n = profileArgs(o, 'baseline');
  const argv = pinned(core, [...nodeArgv(node), ...n.args, BASELINE_JS, String(port)]);
  return { key: 'baseline', proc: await startServer('baseline', argv, port, /^listening /m, SERVER_ENV), served: 0, profile: n.file, windows: new Map() };
}

/** The peers a probing configuration probes: one process, `count` ports, on the load core (not the server's). */
export async function startPeers(count: number, core: number | undefined): Promise<{ proc: ServerProc; targets: string }> {
  let ports = '';
  const proc = await startServer(`${count} probe peers`, pinned(core, [process.execPath, PEERS_JS, String(count)]), 0, /^listening ([0-9,]+)$/m,
    undefined, (head) => { ports = /^listening ([0-9,]+)$/m.exec(head)?.[1] ?? ''; });
  return { proc, targets: ports.split(',').map((p) => `http://127.0.0.1:${p}`).join(',') };
}

export async function startHeartbeat(
  o: Options, core: number | undefined, config: HeartbeatConfig, node: NodeBin, peerCore?: number,
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

export const urlOf = (s: Server, bytes: number): string => `http://127.0.0.1:${s.proc.port}/heartbeat/${bytes}`;

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
export async function preflight(servers: Server[]): Promise<void> {
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
// The load worker, over IPC.

export interface LoadWorker {
  run(job: Extract<LoadJob, { kind: 'http' }>): Promise<HttpFigures>;
  run(job: Extract<LoadJob, { kind: 'get' | 'upload' }>): Promise<TransferFigures>;
  close(): void;
  /** CPU time the load worker has used so far, nanoseconds. */
  cpuNs(): number | undefined;
}

export function startLoadWorker(core: number | undefined): LoadWorker {
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
