/**
 * The truth a probe's timings are held against (test/root/probe-truth.test.ts and `npm run bench`'s
 * bench/probe-truth.ts):
 * two network namespaces joined by a veth (a prober's and a peer's), tcpdump on the prober's side of
 * it, and each probe line joined to its packets by the X-Request-Id its request carried:
 *   connect = SYN -> SYN-ACK, ttfb = last request byte -> first answer byte, total = SYN -> last answer byte,
 * as the packets passed the prober's veth. Also: a child cgroup of cgroup v1's cpu controller with a CFS
 * quota (what a pod's CPU limit does), and curl's timings of the same path for scale.
 * Every name made here contains "hb39" and is removed by name. Needs root, iproute2, tcpdump, curl.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { makeScratch, removeScratch } from './scratch';

export const TRUTH_HINT = 'needs root, iproute2, tcpdump, curl and taskset: apt-get install -y iproute2 tcpdump curl util-linux (.ci/run installs them)';

/** Throws, naming what is missing (root, ip, tcpdump, curl, taskset) and how to install it. */
export function requireTruthTools(): void {
  if (process.getuid?.() !== 0) throw new Error(`not root: ${TRUTH_HINT}`);
  for (const [tool, arg] of [['ip', '-V'], ['tcpdump', '--version'], ['curl', '--version'], ['taskset', '--version']] as const) {
    const r = spawnSync(tool, [arg], { stdio: 'ignore', timeout: 30_000 });
    if (r.error || r.status !== 0) throw new Error(`${tool} is missing (or does not run): ${TRUTH_HINT}`);
  }
}

/** Benchmark-range addresses (198.18.0.0/15), only inside the two namespaces. */
export const TRUTH_ADDR = { prober: '198.18.39.1', peer: '198.18.39.2' } as const;

export interface TruthNet {
  prober: string;
  peer: string;
  /** The prober's end of the veth (where tcpdump listens). */
  dev: string;
  remove(): void;
}

const run = (args: string[]): string => execFileSync(args[0] as string, args.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

export function createTruthNet(): TruthNet {
  const tag = `hb39-${process.pid % 100000}`;
  const prober = `${tag}-prober`;
  const peer = `${tag}-peer`;
  const dev = `hb39p${process.pid % 100000}`;
  const remove = (): void => {
    for (const n of [prober, peer]) spawnSync('ip', ['netns', 'delete', n], { stdio: 'ignore' });
  };
  remove();
  try {
    run(['ip', 'netns', 'add', prober]);
    run(['ip', 'netns', 'add', peer]);
    run(['ip', 'link', 'add', dev, 'netns', prober, 'type', 'veth', 'peer', 'name', `hb39q${process.pid % 100000}`, 'netns', peer]);
    run(['ip', '-n', prober, 'addr', 'add', `${TRUTH_ADDR.prober}/24`, 'dev', dev]);
    run(['ip', '-n', peer, 'addr', 'add', `${TRUTH_ADDR.peer}/24`, 'dev', `hb39q${process.pid % 100000}`]);
    for (const [ns, d] of [[prober, dev], [peer, `hb39q${process.pid % 100000}`], [prober, 'lo'], [peer, 'lo']] as const) {
      run(['ip', '-n', ns, 'link', 'set', d, 'up']);
    }
  } catch (e) {
    remove();
    throw e;
  }
  return { prober, peer, dev, remove };
}

export interface Capture {
  file: string;
  /** Stops tcpdump (SIGINT: it writes what it buffered) and resolves once it has exited. */
  stop(): Promise<void>;
}

/** tcpdump on the prober's veth, every TCP packet of `port`, headers and the first bytes of payload, to `file`. */
export async function startCapture(net: TruthNet, port: number, file: string): Promise<Capture> {
  const proc: ChildProcess = spawn('ip', ['netns', 'exec', net.prober, 'tcpdump', '-i', net.dev, '-n', '-s', '400', '-U',
    '--time-stamp-precision', 'nano', '-w', file, 'tcp', 'port', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    proc.stderr?.on('data', (c: Buffer) => {
      err += c.toString();
      if (/listening on/.test(err)) resolve();
    });
    void exited.then(() => reject(new Error(`tcpdump exited: ${err}`)));
    setTimeout(() => reject(new Error(`tcpdump did not start: ${err}`)), 10_000).unref();
  });
  return {
    file,
    async stop(): Promise<void> {
      proc.kill('SIGINT');
      await exited;
    },
  };
}

export interface Packet {
  /** ms (epoch, ns resolution). */
  t: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  syn: boolean;
  ack: boolean;
  fin: boolean;
  /** TCP payload bytes (from the IP length, not the capture). */
  len: number;
  /** The captured start of the payload. */
  payload: Buffer;
}

/** The packets of a pcap file (Ethernet, IPv4, TCP), µs or ns timestamps. */
export function readPcap(file: string): Packet[] {
  const b = fs.readFileSync(file);
  const magic = b.readUInt32LE(0);
  const nano = magic === 0xa1b23c4d;
  if (!nano && magic !== 0xa1b2c3d4) throw new Error(`${file}: not a little-endian pcap file`);
  // the link layer: Ethernet (1), Linux cooked v1 (113) or v2 (276): where the EtherType and the IP header are
  const link = b.readUInt32LE(20);
  const [typeAt, ipAt] = link === 1 ? [12, 14] : link === 113 ? [14, 16] : link === 276 ? [0, 20] : [-1, -1];
  if (typeAt < 0) throw new Error(`${file}: link type ${link} not read here`);
  const out: Packet[] = [];
  for (let o = 24; o + 16 <= b.length;) {
    const sec = b.readUInt32LE(o);
    const frac = b.readUInt32LE(o + 4);
    const incl = b.readUInt32LE(o + 8);
    const p = o + 16;
    const end = p + incl;
    o = end;
    if (end > b.length || incl < ipAt + 20 + 20) continue;
    if (b.readUInt16BE(p + typeAt) !== 0x0800) continue; // IPv4
    const ip = p + ipAt;
    const ihl = ((b[ip] as number) & 0x0f) * 4;
    if (b[ip + 9] !== 6 || ip + ihl + 20 > end) continue; // TCP, its header captured
    const total = b.readUInt16BE(ip + 2);
    const tcp = ip + ihl;
    const doff = ((b[tcp + 12] as number) >> 4) * 4;
    const flags = b[tcp + 13] as number;
    const len = total - ihl - doff;
    const start = tcp + doff;
    out.push({
      t: sec * 1000 + (nano ? frac / 1e6 : frac / 1e3),
      src: `${b[ip + 12]}.${b[ip + 13]}.${b[ip + 14]}.${b[ip + 15]}`,
      dst: `${b[ip + 16]}.${b[ip + 17]}.${b[ip + 18]}.${b[ip + 19]}`,
      sport: b.readUInt16BE(tcp),
      dport: b.readUInt16BE(tcp + 2),
      syn: (flags & 0x02) !== 0,
      ack: (flags & 0x10) !== 0,
      fin: (flags & 0x01) !== 0,
      len,
      payload: b.subarray(Math.min(start, end), Math.min(end, start + Math.max(0, len))),
    });
  }
  return out;
}

export interface WireTiming { connect: number; ttfb: number; total: number }

/**
 * Each exchange with `server`:`port` on a fresh connection, by the X-Request-Id of its request: the wire's
 * connect (SYN -> SYN-ACK), ttfb (last request byte -> first answer byte) and total (SYN -> last answer byte).
 */
export function wireTimings(packets: Packet[], server: string, port: number): Map<string, WireTiming> {
  interface Conn { syn?: number; synAck?: number; lastReq?: number; firstRes?: number; lastRes?: number; id?: string }
  const conns = new Map<number, Conn>();
  for (const p of packets) {
    const outbound = p.dst === server && p.dport === port;
    const inbound = p.src === server && p.sport === port;
    if (!outbound && !inbound) continue;
    const key = outbound ? p.sport : p.dport;
    if (outbound && p.syn && !p.ack) conns.set(key, { syn: p.t }); // a new connection on this port
    const c = conns.get(key);
    if (!c) continue;
    if (inbound && p.syn && p.ack && c.synAck === undefined) c.synAck = p.t;
    if (p.len <= 0) continue;
    if (outbound) {
      c.lastReq = p.t;
      const m = /X-Request-Id: ([0-9a-f-]{36})/i.exec(p.payload.toString('latin1'));
      if (m) c.id ??= m[1];
    } else {
      c.firstRes ??= p.t;
      c.lastRes = p.t;
    }
  }
  const out = new Map<string, WireTiming>();
  for (const c of conns.values()) {
    if (c.id === undefined || c.syn === undefined || c.synAck === undefined || c.lastReq === undefined || c.firstRes === undefined || c.lastRes === undefined) continue;
    out.set(c.id, { connect: c.synAck - c.syn, ttfb: c.firstRes - c.lastReq, total: c.lastRes - c.syn });
  }
  return out;
}


/** A TLS 1.2 record header at the start of a packet's payload: its content type (0x17 application data, 0x15 alert). */
const recordAt = (p: Packet, type: number): boolean =>
  p.payload.length >= 5 && p.payload[0] === type && p.payload[1] === 3 && p.payload[2] === 3;

/** One TLS connection on the wire: when its SYN left, how many answer bytes came, and its timings. */
export interface TlsWire extends WireTiming { syn: number; answerBytes: number }

/**
 * Each TLS 1.2 connection to `server`:`port` (the request id is encrypted, so they are joined by time: tlsJoin):
 * connect = SYN -> SYN-ACK; ttfb = the last outbound packet that starts an application-data record before the
 * answer (the request) -> the first inbound packet that starts one (the answer's first record; in TLS 1.2 the
 * handshake, session ticket included, is over by then, so the first inbound application data is the answer);
 * total = SYN -> the last inbound packet carrying answer bytes (a packet that is only the peer's close_notify
 * alert is not part of the answer).
 */
export function tlsWireTimings(packets: Packet[], server: string, port: number): TlsWire[] {
  interface Conn { syn?: number; synAck?: number; lastReq?: number; firstRes?: number; lastRes?: number; bytes: number }
  const conns = new Map<number, Conn>();
  const done: Conn[] = [];
  for (const p of packets) {
    const outbound = p.dst === server && p.dport === port;
    const inbound = p.src === server && p.sport === port;
    if (!outbound && !inbound) continue;
    const key = outbound ? p.sport : p.dport;
    if (outbound && p.syn && !p.ack) {
      const old = conns.get(key);
      if (old) done.push(old);
      conns.set(key, { syn: p.t, bytes: 0 });
    }
    const c = conns.get(key);
    if (!c) continue;
    if (inbound && p.syn && p.ack && c.synAck === undefined) c.synAck = p.t;
    if (p.len <= 0) continue;
    if (outbound) {
      if (recordAt(p, 0x17) && c.firstRes === undefined) c.lastReq = p.t;
    } else if (c.lastReq !== undefined) {
      if (c.firstRes === undefined && recordAt(p, 0x17)) c.firstRes = p.t;
      const closeOnly = recordAt(p, 0x15) && p.len === 5 + p.payload.readUInt16BE(3);
      if (c.firstRes !== undefined && !closeOnly) {
        c.lastRes = p.t;
        c.bytes += p.len;
      }
    }
  }
  done.push(...conns.values());
  const out: TlsWire[] = [];
  for (const c of done) {
    if (c.syn === undefined || c.synAck === undefined || c.lastReq === undefined || c.firstRes === undefined || c.lastRes === undefined) continue;
    out.push({ syn: c.syn, answerBytes: c.bytes, connect: c.synAck - c.syn, ttfb: c.firstRes - c.lastReq, total: c.lastRes - c.syn });
  }
  return out.sort((a, b) => a.syn - b.syn);
}

/** A probe line as the https calibration reads it: its time (when it was logged) besides the timings. */
export interface ReportedAt extends Reported { time: string }

/**
 * Joins https probe lines to TLS connections by time (each probe is a fresh connection). A line is written after
 * its probe, so its time less total_ms is at or after the probe's first stamp, which is taken just after the SYN
 * left: its connection is the one of its size (answer bytes above `bigAbove` for sizes above it) whose SYN is the
 * latest at most `slackMs` after that start and at most `toleranceMs` before it. A line with no such connection is
 * left out; a connection two lines would claim is counted as ambiguous (neither guess is kept for the second).
 */
export function tlsJoin(reported: ReportedAt[], wire: TlsWire[], toleranceMs: number, bigAbove = 16384, slackMs = 1.5): { joined: Joined[]; ambiguous: number } {
  const byId = new Map<string, WireTiming>();
  const claimed = new Set<TlsWire>();
  let ambiguous = 0;
  for (const r of reported) {
    const start = Date.parse(r.time) - r.total_ms;
    const big = r.size > bigAbove;
    let best: TlsWire | undefined;
    for (const w of wire) {
      if ((w.answerBytes > bigAbove) !== big || w.syn > start + slackMs || w.syn < start - toleranceMs) continue;
      if (!best || w.syn > best.syn) best = w;
    }
    if (!best) continue;
    if (claimed.has(best)) {
      ambiguous++;
      continue;
    }
    claimed.add(best);
    byId.set(r.request_id, best);
  }
  return { joined: join(reported, byId), ambiguous };
}

/**
 * A reported timing beside the wire's: `reported − wire`; the same less what of self_ms it can hold; and how much
 * self_ms claims beyond the line's largest error (ms).
 */
export interface Joined { id: string; size: number; self: number; err: WireTiming; errSelf: WireTiming; over: number }

export interface Reported { request_id: string; size: number; connect_ms: number; ttfb_ms: number; total_ms: number; self_ms: number }

/** Joins reported timings to the wire's by request id; those the capture did not see are left out. */
export function join(reported: Reported[], wire: Map<string, WireTiming>): Joined[] {
  const out: Joined[] = [];
  // self_ms bounds each timing's lateness (src/probe/self.ts): each is held against its reported value less what
  // of self_ms its error can hold (a late connect stamp makes connect_ms long, not total_ms: the request leaves
  // later and the wire waits with it), and self_ms against the largest error, so that it cannot pass by claiming much
  const less = (reported: number, truth: number, self: number): number => reported - Math.min(self, Math.max(0, reported - truth)) - truth;
  for (const r of reported) {
    const w = wire.get(r.request_id);
    if (!w) continue;
    const err = { connect: r.connect_ms - w.connect, ttfb: r.ttfb_ms - w.ttfb, total: r.total_ms - w.total };
    out.push({
      id: r.request_id,
      size: r.size,
      self: r.self_ms,
      err,
      errSelf: { connect: less(r.connect_ms, w.connect, r.self_ms), ttfb: less(r.ttfb_ms, w.ttfb, r.self_ms), total: less(r.total_ms, w.total, r.self_ms) },
      over: Math.max(0, r.self_ms - Math.max(0, err.connect, err.ttfb, err.total)),
    });
  }
  return out;
}

/** Nearest-rank percentile of |values|. */
export function pAbs(values: number[], q: number): number {
  const s = values.map(Math.abs).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] as number;
}

export interface ErrorRow {
  n: number;
  p50: WireTiming;
  p99: WireTiming;
  /** The same, with self_ms taken off. */
  p50Self: WireTiming;
  p99Self: WireTiming;
  /** p99 of self_ms itself. */
  selfP99: number;
  /** p90 of what self_ms claims beyond the line's largest error. */
  overP90: number;
}

const each = (rows: Joined[], f: (j: Joined) => WireTiming, q: number): WireTiming => ({
  connect: pAbs(rows.map((j) => f(j).connect), q),
  ttfb: pAbs(rows.map((j) => f(j).ttfb), q),
  total: pAbs(rows.map((j) => f(j).total), q),
});

export function errorRow(rows: Joined[]): ErrorRow {
  return {
    n: rows.length,
    p50: each(rows, (j) => j.err, 0.5),
    p99: each(rows, (j) => j.err, 0.99),
    p50Self: each(rows, (j) => j.errSelf, 0.5),
    p99Self: each(rows, (j) => j.errSelf, 0.99),
    selfP99: pAbs(rows.map((j) => j.self), 0.99),
    overP90: pAbs(rows.map((j) => j.over), 0.9),
  };
}

const f3 = (v: number): string => (Number.isFinite(v) ? v.toFixed(3) : '–');
export const triple = (t: WireTiming): string => `${f3(t.connect)} / ${f3(t.ttfb)} / ${f3(t.total)}`;

/**
 * curl on the same path from the prober's namespace, `count` fresh connections one after another, each
 * with its own X-Request-Id: its timings as the table reads them (connect = time_connect −
 * time_namelookup, ttfb = time_starttransfer − time_pretransfer, total = time_total − time_namelookup).
 */
export async function curlRuns(net: TruthNet, url: string, count: number, gapMs: number): Promise<Reported[]> {
  const out: Reported[] = [];
  for (let i = 0; i < count; i++) {
    const id = randomUUID();
    const text = await new Promise<string>((resolve, reject) => {
      const p = spawn('ip', ['netns', 'exec', net.prober, 'curl', '-s', '-o', '/dev/null', '-H', `X-Request-Id: ${id}`, '-H', 'Connection: close',
        '-w', '%{time_namelookup} %{time_connect} %{time_pretransfer} %{time_starttransfer} %{time_total}', url], { stdio: ['ignore', 'pipe', 'pipe'] });
      let s = '';
      p.stdout.on('data', (c: Buffer) => { s += c.toString(); });
      p.on('error', reject);
      p.on('exit', () => resolve(s));
    });
    const [dns, connect, pre, start, total] = text.trim().split(' ').map((v) => Number(v) * 1000) as [number, number, number, number, number];
    out.push({ request_id: id, size: 0, connect_ms: connect - dns, ttfb_ms: start - pre, total_ms: total - dns, self_ms: 0 });
    await new Promise((r) => setTimeout(r, gapMs));
  }
  return out;
}

/** A child cgroup of cgroup v1's cpu controller with a CFS quota, for a process started in it. */
export interface Quota {
  dir: string;
  /** A command prefix that runs the command inside the cgroup. */
  wrap: string[];
  remove(): void;
}

export const CPU_V1 = '/sys/fs/cgroup/cpu';

export function createQuota(name: string, percent: number, periodUs = 100_000): Quota {
  if (!name.includes('hb39')) throw new Error('the cgroup name must contain hb39');
  if (!fs.existsSync(path.join(CPU_V1, 'cpu.cfs_quota_us'))) {
    throw new Error(`no cgroup v1 cpu controller at ${CPU_V1} (cpu.cfs_quota_us): the 10% quota phase needs it`);
  }
  const dir = path.join(CPU_V1, name);
  const remove = (): void => {
    if (!fs.existsSync(dir)) return;
    // processes still in it go back to the parent first (a cgroup with tasks cannot be removed)
    for (const pid of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
      try { fs.writeFileSync(path.join(CPU_V1, 'cgroup.procs'), pid); } catch { /* it exited */ }
    }
    fs.rmdirSync(dir);
  };
  remove();
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'cpu.cfs_period_us'), String(periodUs));
  fs.writeFileSync(path.join(dir, 'cpu.cfs_quota_us'), String(Math.round((periodUs * percent) / 100)));
  return { dir, wrap: ['sh', '-c', `echo $$ > ${path.join(dir, 'cgroup.procs')} && exec "$@"`, 'sh'], remove };
}

/** A heartbeat started in a namespace (and maybe a cgroup), its stdout lines kept. */
export interface Hb {
  lines: string[];
  stop(): Promise<void>;
  kill(): void;
}

/** Starts `node main args` under `wrap`; resolves once it logs that it listens. */
export function startHb(nodeArgv: string[], main: string, args: string[], wrap: string[], env: NodeJS.ProcessEnv = {}): Promise<Hb> {
  const [cmd, ...rest] = [...wrap, ...nodeArgv, main, ...args] as [string, ...string[]];
  const proc = spawn(cmd, rest, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH, ...env } });
  const lines: string[] = [];
  let partial = '';
  let err = '';
  const exited = new Promise<void>((resolve) => proc.on('close', () => resolve()));
  proc.stderr.on('data', (c: Buffer) => { err += c.toString(); });
  return new Promise<Hb>((resolve, reject) => {
    const hb: Hb = {
      lines,
      async stop() { if (proc.exitCode === null) proc.kill('SIGTERM'); await exited; },
      kill() { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL'); },
    };
    proc.stdout.on('data', (c: Buffer) => {
      const parts = (partial + c.toString('latin1')).split('\n');
      partial = parts.pop() as string;
      for (const l of parts) {
        lines.push(l);
        if (/\blistening\b/.test(l) && /lifecycle/.test(l)) resolve(hb);
      }
    });
    void exited.then(() => reject(new Error(`heartbeat exited before listening: ${err}${lines.join('\n')}`)));
    setTimeout(() => reject(new Error('heartbeat did not start within 10 s')), 10_000).unref();
  });
}

export const TRUTH_PORT = 18039;
/** The TLS proxy's port in the peer's namespace, in front of the peer (https phases). */
export const TRUTH_TLS_PORT = 18443;
/** The name the peer's certificate carries, sent as the https target's host= override (SNI, Host, name checked). */
export const TRUTH_TLS_NAME = 'peer.hb39.test';
/** A phase: what the prober does besides probing, and (` https`) whether it probes the peer through TLS. */
export type TruthPhaseName = 'idle' | 'saturated' | 'quota' | 'idle https' | 'saturated https' | 'quota https';

/**
 * A TLS terminator in front of the peer, as an ingress is (the peer serves plain HTTP only): TLS 1.2 (its
 * handshake, session ticket included, is plaintext records, so the capture tells the answer's first
 * application-data record from the handshake: tlsWireTimings), bytes passed both ways untouched, Nagle off.
 * argv: key file, cert file, listen address, listen port, upstream address, upstream port.
 */
const TLS_TERMINATOR = `
const fs = require('node:fs'), net = require('node:net'), tls = require('node:tls');
const [key, cert, host, port, upHost, upPort] = process.argv.slice(1);
const server = tls.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert), maxVersion: 'TLSv1.2' }, (c) => {
  c.setNoDelay(true);
  const u = net.connect(Number(upPort), upHost);
  u.setNoDelay(true);
  c.on('error', () => u.destroy());
  u.on('error', () => c.destroy());
  c.pipe(u);
  u.pipe(c);
});
server.on('tlsClientError', () => undefined);
server.listen(Number(port), host, () => process.stdout.write('listening\\n'));
process.on('SIGTERM', () => process.exit(0));
`;

/** Starts the TLS terminator under `wrap` (the peer's namespace); resolves once it listens. */
function startTlsTerminator(node: string, wrap: string[], files: { key: string; cert: string }): Promise<ChildProcess> {
  const argv: string[] = [...wrap, node, '-e', TLS_TERMINATOR, files.key, files.cert, TRUTH_ADDR.peer, String(TRUTH_TLS_PORT),
    TRUTH_ADDR.peer, String(TRUTH_PORT)];
  const [cmd, ...rest] = argv as [string, ...string[]];
  const proc = spawn(cmd, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr?.on('data', (c: Buffer) => { err += c.toString(); });
  return new Promise((resolve, reject) => {
    proc.stdout?.on('data', (c: Buffer) => { if (c.toString().includes('listening')) resolve(proc); });
    proc.on('exit', () => reject(new Error(`the TLS terminator exited: ${err}`)));
    setTimeout(() => reject(new Error(`the TLS terminator did not start: ${err}`)), 10_000).unref();
  });
}

export interface TruthOptions {
  main: string;
  nodeArgv: string[];
  env?: NodeJS.ProcessEnv;
  /** autocannon's command line (its .js), for the load on the prober's own port. */
  autocannon: string;
  /** Seconds the prober probes in a phase. */
  seconds: number;
  /** CPUs: the prober's, and the load generator's and the peer's (undefined: not pinned). */
  proberCpu?: number;
  loadCpu?: number;
}

export interface TruthPhase {
  name: TruthPhaseName | 'curl';
  /** Ok probe lines, and how many of them the capture showed. */
  lines: number;
  row: ErrorRow;
  /** https: lines whose join to a connection by time was ambiguous (left out; should be 0). */
  ambiguous?: number;
}

const pin = (cpu: number | undefined): string[] => (cpu === undefined ? [] : ['taskset', '-c', String(cpu)]);

/**
 * The calibration: the namespaces, the peer, then curl (idle, for scale) and the prober in each phase, each
 * held against its capture. `onPhase` hears each phase as it ends. Everything it made is removed at the end.
 */
export async function calibrate(o: TruthOptions & { tls?: { ca: string; key: string; cert: string } }, phases: TruthPhaseName[], onPhase: (p: TruthPhase) => void | Promise<void>): Promise<TruthPhase[]> {
  requireTruthTools();
  const dir = makeScratch('heartbeat-truth-');
  const net = createTruthNet();
  const peerUrl = `http://${TRUTH_ADDR.peer}:${TRUTH_PORT}`;
  const out: TruthPhase[] = [];
  let peer: Hb | undefined;
  let prober: Hb | undefined;
  let load: ChildProcess | undefined;
  let quota: Quota | undefined;
  let terminator: ChildProcess | undefined;
  try {
    peer = await startHb(o.nodeArgv, o.main, ['--host', TRUTH_ADDR.peer, '--port', String(TRUTH_PORT)], [...pin(o.loadCpu), 'ip', 'netns', 'exec', net.peer], o.env);
    {
      const capture = await startCapture(net, TRUTH_PORT, path.join(dir, 'curl.pcap'));
      const runs = await curlRuns(net, `${peerUrl}/heartbeat/1024`, Math.max(50, o.seconds * 4), 100);
      await capture.stop();
      const joined = join(runs, wireTimings(readPcap(capture.file), TRUTH_ADDR.peer, TRUTH_PORT));
      const p: TruthPhase = { name: 'curl', lines: runs.length, row: errorRow(joined) };
      out.push(p);
      await onPhase(p);
    }
    for (const name of phases) {
      const https = name.endsWith(' https');
      let target = peerUrl;
      let tlsArgs: string[] = [];
      if (https) {
        if (!o.tls) throw new Error(`phase ${name}: no certificate given (calibrate's tls option)`);
        if (!terminator) {
          const files = { ca: path.join(dir, 'ca.pem'), key: path.join(dir, 'peer.key'), cert: path.join(dir, 'peer.pem') };
          for (const k of ['ca', 'key', 'cert'] as const) fs.writeFileSync(files[k], o.tls[k]);
          terminator = await startTlsTerminator(o.nodeArgv[0] as string, [...pin(o.loadCpu), 'ip', 'netns', 'exec', net.peer], files);
        }
        target = `https://${TRUTH_ADDR.peer}:${TRUTH_TLS_PORT} host=${TRUTH_TLS_NAME}`;
        tlsArgs = ['--probe-tls-ca', path.join(dir, 'ca.pem')];
      }
      const capture = await startCapture(net, https ? TRUTH_TLS_PORT : TRUTH_PORT, path.join(dir, `${name.replace(' ', '-')}.pcap`));
      if (!name.startsWith('idle')) {
        load = spawn('ip', ['netns', 'exec', net.prober, ...pin(o.loadCpu), ...o.nodeArgv.slice(0, 1), o.autocannon, '-c', '64', '-d', String(o.seconds + 30),
          `http://${TRUTH_ADDR.prober}:${TRUTH_PORT}/heartbeat/1024`], { stdio: 'ignore' });
        await new Promise((r) => setTimeout(r, 2000)); // the load at full speed before the first probe
      }
      if (name.startsWith('quota')) quota = createQuota(`hb39-truth-${process.pid}`, 10);
      prober = await startHb(o.nodeArgv, o.main, ['--host', TRUTH_ADDR.prober, '--port', String(TRUTH_PORT), '--log-format', 'json',
        ...tlsArgs, '--probe-targets', target, '--probe-sizes', '1024,65536', '--probe-interval', '500', '--probe-timeout', '500', '--probe-mtu-probes', '0'],
      [...(quota?.wrap ?? []), ...pin(o.proberCpu), 'ip', 'netns', 'exec', net.prober], o.env);
      await new Promise((r) => setTimeout(r, o.seconds * 1000));
      await prober.stop();
      load?.kill('SIGKILL');
      load = undefined;
      await capture.stop();
      quota?.remove();
      quota = undefined;
      const reported = prober.lines.filter((l) => l.startsWith('{"time"') && l.includes('"kind":"probe"'))
        .map((l) => JSON.parse(l) as ReportedAt & { outcome: string }).filter((l) => l.outcome === 'ok');
      prober = undefined;
      // http: by X-Request-Id; https (encrypted): by time, within half the probe interval
      const { joined, ambiguous } = https
        ? tlsJoin(reported, tlsWireTimings(readPcap(capture.file), TRUTH_ADDR.peer, TRUTH_TLS_PORT), 250)
        : { joined: join(reported, wireTimings(readPcap(capture.file), TRUTH_ADDR.peer, TRUTH_PORT)), ambiguous: undefined };
      if (process.env.HB_TRUTH_DEBUG) {
        for (const j of joined) if (Math.abs(j.errSelf.total) > 2 || Math.abs(j.err.total) > 2) process.stderr.write(`${name} ${JSON.stringify(j)}\n`);
      }
      const p: TruthPhase = { name, lines: reported.length, row: errorRow(joined), ambiguous };
      out.push(p);
      await onPhase(p);
    }
    return out;
  } finally {
    prober?.kill();
    if (load && load.exitCode === null) load.kill('SIGKILL');
    if (terminator && terminator.exitCode === null) terminator.kill('SIGKILL');
    await peer?.stop();
    quota?.remove();
    net.remove();
    removeScratch(dir);
  }
}

/** The calibration table, markdown: each phase's error percentiles, with and without self_ms, curl beside. */
export function truthTable(phases: TruthPhase[]): string {
  const out = ['| phase | probes joined | p50 \\|reported − wire\\| connect / ttfb / total (ms) | p99 | p99 less self_ms | p99 of self_ms | p90 of self_ms beyond the largest error |',
    '| --- | --- | --- | --- | --- | --- | --- |'];
  for (const { name, row, lines } of phases) {
    const self = name !== 'curl';
    out.push(`| ${self ? name : 'curl, idle'} | ${row.n} of ${lines} | ${triple(row.p50)} | ${triple(row.p99)} | ${self ? triple(row.p99Self) : ''} | ` +
      `${self ? row.selfP99.toFixed(3) : ''} | ${self ? row.overP90.toFixed(3) : ''} |`);
  }
  return out.join('\n');
}
