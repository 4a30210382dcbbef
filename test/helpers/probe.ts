/** Helpers for the probe-mode tests: probe lines as records, and a private resolver for a prober. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PROBE_COLUMNS } from '../../src/log/format';
import { request, sleep, type Running } from './server';
import { makeScratch, removeScratch } from '../../scripts/scratch';

export type ProbeLine = Record<(typeof PROBE_COLUMNS)[number], string>;

const NUMERIC = new Set(['size', 'status', 'dns_ms', 'connect_ms', 'tls_ms', 'ttfb_ms', 'total_ms', 'bytes', 'path_limit', 'self_ms']);

/** The probe lines a heartbeat wrote so far, TSV or JSON, as records of strings (numbers as written). */
export function probeLines(r: Running): ProbeLine[] {
  const out: ProbeLine[] = [];
  for (const line of r.lines) {
    if (line.startsWith('{')) {
      const o = JSON.parse(line) as Record<string, unknown>;
      if (o.kind !== 'probe') continue;
      out.push(Object.fromEntries(PROBE_COLUMNS.map((c) => [c, NUMERIC.has(c) ? String(Number(o[c])) : String(o[c])])) as ProbeLine);
    } else {
      const cols = line.split('\t');
      if (cols[1] !== 'probe') continue;
      if (cols.length !== PROBE_COLUMNS.length) throw new Error(`probe line with ${cols.length} columns: ${line}`);
      out.push(Object.fromEntries(PROBE_COLUMNS.map((c, i) => [c, cols[i] as string])) as ProbeLine);
    }
  }
  return out;
}

/** Reads a Prometheus text exposition into (name{labels} -> value). */
export function scrape(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** Whether this machine can listen on ::1. */
export function hasIpv6Loopback(): boolean {
  const r = spawnSync(process.execPath, ['-e', "require('net').createServer().listen(0, '::1', function () { this.close(); }).on('error', () => process.exit(1))"]);
  return r.status === 0;
}

/**
 * A command prefix that runs a process with its own /etc/hosts and /etc/resolv.conf (bind-mounted
 * in a private mount namespace; the machine's files are untouched): `hosts` are its only names, and
 * its DNS server is 127.0.0.1, where nothing answers, so any other name fails at once, on loopback.
 * Needs root and util-linux's unshare; fails loudly (naming both) without them.
 */
export function privateResolver(hosts: string): string[] {
  return privateResolverFiles(hosts).wrap;
}

/** privateResolver, and the hosts file it mounts: rewritten in place, the prober sees the new names. `resolvConf`: its resolv.conf instead. */
export function privateResolverFiles(hosts: string, resolvConf = 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n'): { wrap: string[]; hostsFile: string } {
  const ok = spawnSync('unshare', ['-m', 'true']);
  if (ok.status !== 0) {
    throw new Error('this test needs `unshare -m` (util-linux, run as root) to give the prober its own /etc/hosts; apt-get install util-linux and run as root');
  }
  const dir = makeScratch('heartbeat-resolver-');
  process.once('exit', () => removeScratch(dir));
  fs.writeFileSync(path.join(dir, 'hosts'), hosts);
  fs.writeFileSync(path.join(dir, 'resolv.conf'), resolvConf);
  const script = `mount --bind ${dir}/hosts /etc/hosts && mount --bind ${dir}/resolv.conf /etc/resolv.conf && exec "$@"`;
  return { wrap: ['unshare', '-m', 'sh', '-c', script, 'sh'], hostsFile: path.join(dir, 'hosts') };
}

/**
 * A moment when no probe is running: lines and a scrape taken with nothing logged in between
 * (the line count is the same before the scrape and after the lines have been flushed).
 */
export async function quiet(hb: Running, port: number, everySeries = true): Promise<{ lines: ProbeLine[]; metrics: Map<string, number> }> {
  for (let i = 0; i < 50; i++) {
    const before = probeLines(hb).length;
    const metrics = scrape((await request(port, 'GET', '/metrics')).body.toString());
    await sleep(50); // the logger writes within 5 ms
    const lines = probeLines(hb);
    const counted = [...metrics].filter(([k]) => k.startsWith('heartbeat_probes_total{')).reduce((a, [, v]) => a + v, 0);
    // (everySeries: no series was dropped, so the counters add up to every line)
    if (lines.length === before && (!everySeries || counted === lines.length)) return { lines, metrics };
  }
  throw new Error('no quiet moment between probes within 50 tries');
}
