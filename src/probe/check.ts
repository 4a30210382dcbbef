/**
 * One probe of one peer address over a raw TCP socket (TLS on top for an https target):
 * `GET {uri}/{size}` (or the upload, `POST {uri}/1` with `size` body bytes), timed phase by
 * phase, the body checked byte by byte against the pattern as it streams, whatever its
 * framing (Content-Length, chunked, or until the peer closes: src/probe/head.ts), and
 * exactly one outcome. Raw sockets rather than node:http so every phase (connect, TLS
 * handshake, request written, first byte, last byte) and every way a peer can fail
 * (refused, reset, handshake or certificate refused, closed early, wrong bytes, not HTTP)
 * is seen as it happens.
 */
import net, { type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { fitWire } from '../http/wire';
import { ChunkedDecoder } from './chunked';
import type { IdleConnections } from './pool';
import { couldBeStatusLine, framing, MAX_HEAD_BYTES, parseHead, type Framing, type ResponseHead } from './head';
import type { SelfCheck } from './self';
import type { ProbeTls } from './tls';
import { PatternVerifier, patternBuffer } from './verify';

export const OUTCOMES = [
  'ok', 'dns', 'refused', 'connect_timeout', 'tls', 'cert', 'reset', 'timeout', 'mtu', 'status', 'short', 'corrupt', 'upload_mismatch', 'aborted',
] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** The response size an upload probe asks for: the smallest answer a heartbeat gives. */
export const UPLOAD_RESPONSE_BYTES = 1;
/** Response header an upload is checked against (src/http/heartbeat.ts sends it). */
const RECEIVED = 'x-received-bytes';

export interface ProbeSpec {
  /** IP address to connect to (no name resolution here). */
  address: string;
  port: number;
  /** `Host` header value: the target's host:port, or its Host override. */
  host: string;
  /** The peer's heartbeat uri, e.g. /heartbeat. */
  uri: string;
  method: 'GET' | 'POST';
  /** GET: bytes asked for; POST: bytes uploaded. */
  size: number;
  /** GET: `size` is the whole answer on the wire (`{uri}/{size}?wire`, src/http/wire.ts), not the body. */
  wire?: boolean;
  timeoutMs: number;
  requestId: string;
  userAgent: string;
  /** https targets: the context, SNI and name to verify (src/probe/tls.ts). */
  tls?: ProbeTls;
  /** probeConnection = reuse: where the keep-alive connection of this peer waits between probes. */
  reuse?: { pool: IdleConnections; key: string };
  /** The probing thread's self-check (src/probe/self.ts): `selfMs` is 0 without one. */
  self?: SelfCheck;
}

export interface ProbeResult {
  outcome: Outcome;
  status: number;
  connectMs: number;
  /** TLS handshake, TCP connected -> handshake done and certificate checked (0: plain http, or a reused connection). */
  tlsMs: number;
  ttfbMs: number;
  totalMs: number;
  /** Body bytes received and checked (GET) or sent (POST). */
  bytes: number;
  /** Every byte of the answer read off the socket, head and framing included (the path-MTU check's unit). */
  wireBytes: number;
  /** The prober's own delay during the probe (src/probe/self.ts): how much of the timings may be heartbeat, not the path. */
  selfMs: number;
  /** How late each stamp was (the self-check's view), and the cgroup's throttling over the span. */
  late: { connect: number; tls: number; firstByte: number; end: number; throttled: number };
}

export interface RunningProbe {
  readonly done: Promise<ProbeResult>;
  /** Ends the probe now with outcome `aborted` (the drain deadline at shutdown). */
  abort(): void;
}

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
const REFUSED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'EHOSTDOWN', 'ENETDOWN']);

function requestHead(spec: ProbeSpec): string {
  const path = `${spec.uri}/${spec.method === 'GET' ? spec.size : UPLOAD_RESPONSE_BYTES}${spec.wire ? '?wire' : ''}`;
  const body = spec.method === 'POST' ? `Content-Length: ${spec.size}\r\nContent-Type: application/octet-stream\r\n` : '';
  return `${spec.method} ${path} HTTP/1.1\r\nHost: ${spec.host}\r\nUser-Agent: ${spec.userAgent}\r\n` +
    `X-Request-Id: ${spec.requestId}\r\n${body}Connection: ${spec.reuse ? 'keep-alive' : 'close'}\r\n\r\n`;
}

/**
 * The probe's socket: TCP, and for an https target TLS over it. `onTcp` hears the TCP connection made, on the TCP
 * socket and before TLS's own listener: tls.connect writes its ClientHello (its key share made first) in that
 * listener, and a stamp taken on the TLS socket's `connect` came after it (measured: 0.25–0.3 ms late at p50,
 * docs/probe.md, "How true are the numbers").
 */
function connect(spec: ProbeSpec, onTcp: () => void): { socket: Socket; tcp: Socket } {
  const tcp = net.connect({ host: spec.address, port: spec.port, noDelay: true });
  tcp.once('connect', onTcp);
  const t = spec.tls;
  if (!t) return { socket: tcp, tcp };
  // the certificate is checked in onSecure (rejectUnauthorized false), so a refused one is told
  // apart from a failed handshake; `verifyName` is the name checkServerIdentity checks it against
  const socket = tls.connect({
    socket: tcp, secureContext: t.context, servername: t.servername,
    rejectUnauthorized: false, ALPNProtocols: ['http/1.1'],
    checkServerIdentity: (_host, cert) => tls.checkServerIdentity(t.verifyName, cert),
  });
  return { socket, tcp };
}

export function probe(spec: ProbeSpec): RunningProbe {
  const mark = spec.self?.begin(); // before the clock starts: its reads are not the probe's time
  let t0 = performance.now();
  const pooled = spec.reuse?.pool.take(spec.reuse.key);
  const onTcp = (): void => onConnect(); // (onConnect is defined below; it runs only once connected)
  const { socket, tcp }: { socket: Socket; tcp?: Socket } = pooled ? { socket: pooled } : connect(spec, onTcp);
  // net.connect to an IP address makes its connect(2) (the SYN) in a process.nextTick it queues first
  // (lib/net.js, lookupAndConnect): a tick queued after it stamps the connect's start right after the SYN
  // left, not before the socket's setup and whatever the tick queue held
  // (the probe's deadline runs from that stamp too, so a timed-out probe's time is never short of probeTimeout)
  let timer: NodeJS.Timeout | undefined;
  if (pooled) timer = deadline();
  else {
    process.nextTick(() => {
      if (finished) return;
      if (!connected) t0 = spec.self?.now() ?? performance.now();
      timer = deadline();
    });
  }
  let connected = pooled !== undefined;
  let secured = pooled !== undefined || spec.tls === undefined;
  let connectMs = 0;
  let tcpAt = 0;
  let tlsMs = 0;
  let written = -1; // performance.now() when the whole request was handed to the kernel
  let ttfbMs = 0;
  let gotByte = false;
  let wireBytes = 0;
  let lateConnect = 0;
  let lateTls = 0;
  let lateFirst = 0;
  let head: ResponseHead | undefined;
  let headBytes: Buffer | undefined; // a head not yet complete: its bytes so far
  let body: Framing = { kind: 'close' };
  let chunked: ChunkedDecoder | undefined;
  let sent = 0;
  let finished = false;
  const verifier = new PatternVerifier();
  // a wire size asks for the body that makes the whole answer `size` bytes
  const wanted = spec.method === 'POST' ? UPLOAD_RESPONSE_BYTES : spec.wire ? (fitWire(spec.size)?.body ?? 0) : spec.size;

  // at the deadline, bytes already read but not yet handed to us (a prober whose own loop was
  // held up) are taken first: setImmediate runs after the loop's I/O phase, so a probe whose
  // answer came in time is judged on it, not on our lateness
  // The timer counts from the loop's cached clock, which can be behind t0 (stamped later in the same turn), so it
  // may fire early by as much as that turn took: it waits out the rest, and a timed-out probe's time is never
  // short of probeTimeout.
  function deadline(): NodeJS.Timeout {
    return setTimeout(function due() {
      const left = spec.timeoutMs - (performance.now() - t0);
      if (left > 0) timer = setTimeout(due, Math.ceil(left));
      else setImmediate(() => finish(connected ? 'timeout' : 'connect_timeout'));
    }, spec.timeoutMs);
  }
  let resolveDone: (r: ProbeResult) => void = () => undefined;
  const done = new Promise<ProbeResult>((r) => { resolveDone = r; });

  const finish = (outcome: Outcome, keep = false): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    tcp?.off('connect', onTcp);
    socket.off('secureConnect', onSecure);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('error', onError);
    const end = performance.now();
    const lateEnd = spec.self?.late(written >= 0 ? written : t0, end) ?? 0;
    if (!connected) connectMs = end - t0;
    else if (!secured) tlsMs = end - tcpAt; // ended during the handshake: the time it took so far
    if (keep && spec.reuse) spec.reuse.pool.give(spec.reuse.key, socket);
    else {
      socket.on('error', () => undefined); // a late reset of a socket we are done with
      socket.destroy();
    }
    resolveDone({
      outcome,
      status: head?.status ?? 0,
      connectMs,
      tlsMs,
      ttfbMs,
      totalMs: end - t0,
      bytes: spec.method === 'GET' ? verifier.bytes : sent,
      wireBytes,
      // each timing's error is its own end stamp's lateness: self_ms bounds them all (a late connect stamp
      // makes connect_ms long, not total_ms: the request leaves later and the wire waits with it)
      selfMs: Math.max(lateConnect, lateTls, lateFirst, lateEnd),
      late: { connect: lateConnect, tls: lateTls, firstByte: lateFirst, end: lateEnd, throttled: mark && spec.self ? spec.self.end(mark) : 0 },
    });
  };

  /** The body is complete (`reusable`: its end was framed and nothing followed it): judge it. */
  const complete = (reusable: boolean): void => {
    const h = head as ResponseHead;
    if (verifier.bytes < wanted) return finish('short');
    if (spec.method === 'POST' && h.headers.get(RECEIVED) !== String(spec.size)) return finish('upload_mismatch');
    finish('ok', reusable && h.headers.get('connection')?.toLowerCase() !== 'close');
  };

  /** Body bytes (already unframed): more than asked for is not the asked-for body. */
  const check = (piece: Buffer): boolean => {
    if (verifier.bytes + piece.length > wanted || !verifier.add(piece)) {
      finish('corrupt');
      return false;
    }
    return true;
  };

  const onBody = (chunk: Buffer): void => {
    if (body.kind === 'chunked') {
      const state = (chunked as ChunkedDecoder).push(chunk, check);
      if (state === 'bad') finish('corrupt');
      else if (state === 'done') complete((chunked as ChunkedDecoder).extra === 0);
      return;
    }
    if (body.kind === 'length') {
      if (verifier.bytes + chunk.length > body.bytes) return finish('corrupt'); // more than declared: not our answer
      if (!check(chunk)) return;
      if (verifier.bytes === body.bytes) complete(true);
      return;
    }
    check(chunk); // until the peer closes: onEnd judges
  };

  const onData = (chunk: Buffer): void => {
    wireBytes += chunk.length;
    if (!gotByte) {
      gotByte = true;
      const now = performance.now();
      ttfbMs = now - (written >= 0 ? written : now);
      lateFirst = spec.self?.late(written >= 0 ? written : t0, now) ?? 0;
    }
    if (head) return onBody(chunk);
    // only the head becomes text; the body bytes after it are used where they are (no copy)
    let bytes = headBytes ? Buffer.concat([headBytes, chunk]) : chunk;
    headBytes = undefined;
    for (;;) {
      // judged on its first bytes: an answer that cannot be an HTTP/1.x status line is `status` now
      if (!couldBeStatusLine(bytes.toString('latin1', 0, Math.min(bytes.length, 13)))) return finish('status');
      const end = bytes.indexOf(HEAD_END);
      if (end < 0) {
        if (bytes.length > MAX_HEAD_BYTES) return finish('status');
        if (bytes.length > 0) headBytes = bytes;
        return;
      }
      const parsed = parseHead(bytes.toString('latin1', 0, end));
      if (!parsed) return finish('status');
      bytes = bytes.subarray(end + 4);
      // an interim answer (100 Continue, 103 Early Hints) from a proxy: the real one follows
      if (parsed.status >= 100 && parsed.status < 200 && parsed.status !== 101) {
        if (bytes.length === 0) return;
        continue;
      }
      head = parsed;
      break;
    }
    if (head.status !== 200) return finish('status');
    body = framing(head);
    // a Content-Length above the bytes asked for: not the asked-for body, whatever follows
    if (body.kind === 'length' && body.bytes > wanted) return finish('corrupt');
    if (body.kind === 'chunked') chunked = new ChunkedDecoder();
    const rest = bytes;
    if (body.kind === 'length' && body.bytes === 0) return complete(rest.length === 0);
    if (rest.length > 0) onBody(rest);
  };

  // the peer closed: the end of a close-delimited body, else before the whole answer came
  // (before any answer, too: nothing was refused or reset); during the handshake, a failed handshake
  const onEnd = (): void => {
    if (!secured) return finish('tls');
    if (head && body.kind === 'close') return complete(false);
    finish('short');
  };

  const onError = (e: NodeJS.ErrnoException): void => {
    const code = e.code ?? '';
    if (!connected) finish(code === 'ETIMEDOUT' ? 'connect_timeout' : REFUSED.has(code) ? 'refused' : 'reset');
    else if (!secured) finish('tls');
    else finish(code === 'ETIMEDOUT' ? 'timeout' : 'reset');
  };

  const send = (): void => {
    const text = requestHead(spec);
    if (spec.method === 'GET') {
      socket.write(text, 'latin1', () => { if (written < 0) written = performance.now(); });
      // written to the kernel at once (the usual case: nothing queued): the stamp is now, not a tick later
      if (socket.writableLength === 0) written = performance.now();
      return;
    }
    socket.write(text, 'latin1');
    const payload = patternBuffer();
    let remaining = spec.size;
    const pump = (): void => {
      while (remaining > 0 && !finished) {
        const n = Math.min(remaining, payload.length);
        remaining -= n;
        const last = remaining === 0;
        const more = socket.write(n === payload.length ? payload : payload.subarray(0, n), (err) => {
          if (err) return;
          sent += n;
          if (last) written = spec.self?.now() ?? performance.now();
        });
        if (!more && !last) {
          socket.once('drain', pump);
          return;
        }
      }
    };
    pump();
  };

  const onConnect = (): void => {
    connected = true;
    tcpAt = performance.now();
    connectMs = tcpAt - t0;
    lateConnect = spec.self?.late(t0, tcpAt) ?? 0;
    if (secured) send();
  };

  const onSecure = (): void => {
    secured = true;
    const now = performance.now();
    tlsMs = now - tcpAt;
    lateTls = spec.self?.waited(tcpAt, now) ?? 0; // its key exchange is the handshake's own time
    const s = socket as tls.TLSSocket;
    if (spec.tls?.verify && !s.authorized) return finish('cert');
    send();
  };

  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('error', onError);
  if (pooled) send();
  else if (!secured) socket.once('secureConnect', onSecure);

  return { done, abort: () => finish('aborted') };
}
