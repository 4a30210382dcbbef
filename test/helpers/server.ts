/**
 * Test helpers that run the real compiled heartbeat (dist/main.js) as its own
 * process and talk to it over TCP on loopback.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { freePort } from '../../scripts/free-port';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const MAIN = path.join(ROOT, 'dist', 'main.js');
/** The Node that runs the server under test: HEARTBEAT_TEST_NODE (e.g. the container's LTS) or this one. */
export const NODE = process.env.HEARTBEAT_TEST_NODE || process.execPath;

export { freePort };

export interface Running {
  port: number;
  proc: ChildProcess;
  /** Every stdout line so far. */
  lines: string[];
  stderr: () => string;
  /** Resolves with the exit code (or signal name) once the process has ended. */
  exited: Promise<number | string>;
  /** Sends `signal` (default SIGTERM) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  /** Do not add --port: the caller sets it (flag, env or file). */
  noPort?: boolean;
  port?: number;
  cwd?: string;
  /** Run a different entry (e.g. an installed package's bin). */
  main?: string;
  /** A command the server runs under, e.g. a private mount namespace (see helpers/probe.ts). */
  wrap?: string[];
  /** Flags for node itself, before the entry (e.g. --expose-gc). */
  nodeArgs?: string[];
  /** The stdout line that says it is up (default: heartbeat's lifecycle `listening` line). */
  ready?: RegExp;
}

/** Runs the CLI to completion (for --help, --version, bad settings). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 10_000):
  Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(NODE, [MAIN, ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    proc.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`CLI did not exit: ${args.join(' ')}`)); }, timeoutMs);
    proc.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

/** Starts the server and resolves once it logs that it is listening. */
export async function startServer(args: string[] = [], opts: RunOptions = {}): Promise<Running> {
  const port = opts.port ?? await freePort();
  const argv = opts.noPort ? args : ['--port', String(port), ...args];
  const [cmd, ...cmdArgs] = [...(opts.wrap ?? []), NODE, ...(opts.nodeArgs ?? []), opts.main ?? MAIN, ...argv] as [string, ...string[]];
  const proc = spawn(cmd, cmdArgs, {
    env: { PATH: process.env.PATH, ...opts.env },
    cwd: opts.cwd ?? ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let partial = '';
  let err = '';
  const exited = new Promise<number | string>((resolve) => {
    proc.on('exit', (code, signal) => resolve(code ?? signal ?? -1));
  });
  const closed = new Promise<void>((resolve) => proc.on('close', () => resolve()));
  proc.stderr.on('data', (c: Buffer) => { err += c.toString(); });
  const listening = new Promise<void>((resolve, reject) => {
    proc.stdout.on('data', (c: Buffer) => {
      const parts = (partial + c.toString('latin1')).split('\n');
      partial = parts.pop() as string;
      for (const l of parts) {
        lines.push(l);
        if (opts.ready ? opts.ready.test(l) : /\blistening\b/.test(l) && /lifecycle/.test(l)) resolve();
      }
    });
    void exited.then((code) => reject(new Error(`server exited (${code}) before listening: ${err}${lines.join('\n')}`)));
    setTimeout(() => reject(new Error('server did not start within 10 s')), 10_000).unref();
  });
  await listening;
  const running: Running = {
    port,
    proc,
    lines,
    stderr: () => err,
    exited: exited.then(async (code) => { await closed; return code; }),
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return running.exited;
    },
  };
  return running;
}

/** Kills a server left running by a failed test. */
export function kill(r: Running | undefined): void {
  if (r && r.proc.exitCode === null && r.proc.signalCode === null) r.proc.kill('SIGKILL');
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One HTTP request over a fresh connection; collects the whole body. */
export function request(port: number, method: string, urlPath: string, body?: Buffer | string, headers: http.OutgoingHttpHeaders = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Sends raw bytes and returns everything the server sends back until it closes or `ms` pass. */
export function rawExchange(port: number, bytes: Buffer | string, ms = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let out = '';
    const done = (): void => { sock.destroy(); resolve(out); };
    const timer = setTimeout(done, ms);
    sock.on('data', (c: Buffer) => { out += c.toString('latin1'); });
    sock.on('close', () => { clearTimeout(timer); resolve(out); });
    sock.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? resolve(out) : reject(e)));
    sock.write(bytes);
  });
}

/** Whether something accepts connections on 127.0.0.1:`port`. */
export function portListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until `check` is true (polling), or fails after `ms`. */
export async function waitFor(check: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Polls `f` every `everyMs` until it gives a value (not undefined), and returns it; fails naming `what` after `ms`. */
export async function until<T>(what: string, ms: number, f: () => Promise<T | undefined>, everyMs = 100): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}
