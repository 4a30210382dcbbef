/**
 * The processes the bench runs: servers (heartbeat, baseline) and the load
 * worker, each pinned to a core when `taskset` is there; peak RSS from /proc.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';

/** Whether `taskset` can pin processes here (Linux with util-linux, and at least 2 cores). */
export function tasksetWorks(cores: number): boolean {
  if (cores < 2) return false;
  const r = spawnSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
  return r.status === 0;
}

/** `argv` run on `core` when pinning, else as it is. */
export function pinned(core: number | undefined, argv: string[]): string[] {
  return core === undefined ? argv : ['taskset', '-c', String(core), ...argv];
}

/** Pins this process (the harness) to `core`. */
export function pinSelf(core: number): void {
  spawnSync('taskset', ['-pc', String(core), String(process.pid)], { stdio: 'ignore' });
}

/** Peak resident set size (VmHWM) of a live process in bytes; undefined where /proc is not there. */
export function peakRss(pid: number): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * CPU time a live process has used so far, all its threads (GC and libuv
 * workers included), in nanoseconds, from /proc/PID/task/TID/schedstat.
 * Unlike req/s, CPU time per request hardly changes when other processes
 * share the core, so it is the steadier figure on a busy machine.
 */
export function cpuNs(pid: number): number | undefined {
  try {
    let total = 0;
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      try {
        total += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // a thread that ended between the listing and the read
      }
    }
    return total;
  } catch {
    return undefined;
  }
}

const children = new Set<ChildProcess>();
/** Whatever happens to the harness, it leaves no server or load worker behind. */
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

export function track(c: ChildProcess): ChildProcess {
  children.add(c);
  c.on('exit', () => children.delete(c));
  return c;
}

/**
 * A server process whose stdout is piped to the harness, which reads it as a
 * log reader would (and counts the lines).
 */
export interface ServerProc {
  readonly name: string;
  readonly port: number;
  readonly pid: number;
  /** Lines the process has written on stdout so far. */
  lines(): number;
  /** Peak RSS so far (read it before stop). */
  peakRss(): number | undefined;
  /** CPU time used so far, nanoseconds. */
  cpuNs(): number | undefined;
  /** SIGTERM, then the exit code (or signal name). */
  stop(): Promise<number | string>;
}

export async function startServer(
  name: string, argv: string[], port: number, ready: RegExp, env?: NodeJS.ProcessEnv, onReady?: (head: string) => void,
): Promise<ServerProc> {
  const [cmd, ...args] = argv as [string, ...string[]];
  const proc = track(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env }));
  let lines = 0;
  let head = '';
  let stderr = '';
  let listening = false;
  const exited = new Promise<number | string>((resolve) => {
    proc.on('close', (code, signal) => resolve(code ?? signal ?? -1));
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 10 s: ${stderr}${head}`)), 10_000);
    proc.stdout!.on('data', (c: Buffer) => {
      for (let i = c.indexOf(10); i >= 0; i = c.indexOf(10, i + 1)) lines++;
      if (!listening) {
        head += c.toString('latin1');
        if (ready.test(head)) {
          listening = true;
          onReady?.(head);
          clearTimeout(timer);
          resolve();
        }
      }
    });
    proc.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}) before listening: ${stderr}${head}`));
    });
  });
  const pid = proc.pid as number;
  return {
    name,
    port,
    pid,
    lines: () => lines,
    peakRss: () => peakRss(pid),
    cpuNs: () => cpuNs(pid),
    stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return exited.then((code) => {
        if (code !== 0 && stderr) process.stderr.write(`${name} stderr:\n${stderr}`);
        return code;
      });
    },
  };
}
