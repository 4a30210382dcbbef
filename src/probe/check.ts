/**
 * One probe of one peer address over a raw TCP socket: `GET {uri}/{size}` (or
 * the upload, `POST {uri}/1` with `size` body bytes), timed phase by phase, the
 * body checked byte by byte against the pattern as it streams, and exactly one
 * outcome. Raw net rather than node:http so every phase (connect, request
 * written, first byte, last byte) and every way a peer can fail (refused,
 * reset, closed early, wrong bytes) is seen as it happens.
 */
import net, { type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { IdleConnections } from './pool';
import { contentLength, MAX_HEAD_BYTES, parseHead, type ResponseHead } from './head';
import { PatternVerifier, patternBuffer } from './verify';

export const OUTCOMES = [
  'ok', 'dns', 'refused', 'connect_timeout', 'reset', 'timeout', 'status', 'short', 'corrupt', 'upload_mismatch', 'aborted',
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
  /** `Host` header value: the target's host:port. */
  host: string;
  /** The peer's heartbeat uri, e.g. /heartbeat. */
  uri: string;
  method: 'GET' | 'POST';
  /** GET: bytes asked for; POST: bytes uploaded. */
  size: number;
  timeoutMs: number;
  requestId: string;
  userAgent: string;
  /** probeConnection = reuse: where the keep-alive connection of this peer waits between probes. */
  reuse?: { pool: IdleConnections; key: string };
}

export interface ProbeResult {
  outcome: Outcome;
  status: number;
  connectMs: number;
  ttfbMs: number;
  totalMs: number;
  /** Body bytes received and checked (GET) or sent (POST). */
  bytes: number;
}

export interface RunningProbe {
  readonly done: Promise<ProbeResult>;
  /** Ends the probe now with outcome `aborted` (the drain deadline at shutdown). */
  abort(): void;
}

const REFUSED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'EHOSTDOWN', 'ENETDOWN']);

function requestHead(spec: ProbeSpec): string {
  const path = `${spec.uri}/${spec.method === 'GET' ? spec.size : UPLOAD_RESPONSE_BYTES}`;
  const body = spec.method === 'POST' ? `Content-Length: ${spec.size}\r\nContent-Type: application/octet-stream\r\n` : '';
  return `${spec.method} ${path} HTTP/1.1\r\nHost: ${spec.host}\r\nUser-Agent: ${spec.userAgent}\r\n` +
    `X-Request-Id: ${spec.requestId}\r\n${body}Connection: ${spec.reuse ? 'keep-alive' : 'close'}\r\n\r\n`;
}

export function probe(spec: ProbeSpec): RunningProbe {
  const t0 = performance.now();
  const pooled = spec.reuse?.pool.take(spec.reuse.key);
  const socket: Socket = pooled ?? net.connect({ host: spec.address, port: spec.port, noDelay: true });
  let connected = pooled !== undefined;
  let connectMs = 0;
  let written = -1; // performance.now() when the whole request was handed to the kernel
  let ttfbMs = 0;
  let gotByte = false;
  let head: ResponseHead | undefined;
  let headText = '';
  let expected = -1; // body bytes the response declares
  let sent = 0;
  let finished = false;
  const verifier = new PatternVerifier();
  const wanted = spec.method === 'GET' ? spec.size : UPLOAD_RESPONSE_BYTES;

  let resolveDone: (r: ProbeResult) => void = () => undefined;
  const done = new Promise<ProbeResult>((r) => { resolveDone = r; });

  const finish = (outcome: Outcome, keep = false): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.off('connect', onConnect);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('error', onError);
    if (!connected) connectMs = performance.now() - t0;
    if (keep && spec.reuse) spec.reuse.pool.give(spec.reuse.key, socket);
    else {
      socket.on('error', () => undefined); // a late reset of a socket we are done with
      socket.destroy();
    }
    resolveDone({
      outcome,
      status: head?.status ?? 0,
      connectMs,
      ttfbMs,
      totalMs: performance.now() - t0,
      bytes: spec.method === 'GET' ? verifier.bytes : sent,
    });
  };

  /** The body is complete: judge it. */
  const complete = (): void => {
    const h = head as ResponseHead;
    if (verifier.bytes < wanted) return finish('short');
    if (spec.method === 'POST' && h.headers.get(RECEIVED) !== String(spec.size)) return finish('upload_mismatch');
    finish('ok', h.headers.get('connection')?.toLowerCase() !== 'close');
  };

  const onBody = (chunk: Buffer): void => {
    if (verifier.bytes + chunk.length > expected) return finish('corrupt'); // more than declared: not our answer
    if (!verifier.add(chunk)) return finish('corrupt');
    if (verifier.bytes === expected) complete();
  };

  const onData = (chunk: Buffer): void => {
    if (!gotByte) {
      gotByte = true;
      ttfbMs = performance.now() - (written >= 0 ? written : performance.now());
    }
    if (head) return onBody(chunk);
    headText += chunk.toString('latin1');
    const end = headText.indexOf('\r\n\r\n');
    if (end < 0) {
      if (headText.length > MAX_HEAD_BYTES) finish('status');
      return;
    }
    const parsed = parseHead(headText.slice(0, end));
    if (!parsed) return finish('status');
    head = parsed;
    if (parsed.status !== 200) return finish('status');
    expected = contentLength(parsed);
    // a heartbeat always declares the length it sends; more than asked is not the asked-for body
    if (expected > wanted) return finish('corrupt');
    if (expected < 0) expected = wanted;
    const rest = Buffer.from(headText.slice(end + 4), 'latin1');
    headText = '';
    if (expected === 0) return complete();
    if (rest.length > 0) onBody(rest);
  };

  // the peer closed before the whole answer came (before any answer, too: nothing was refused or reset)
  const onEnd = (): void => finish('short');

  const onError = (e: NodeJS.ErrnoException): void => {
    const code = e.code ?? '';
    if (!connected) finish(code === 'ETIMEDOUT' ? 'connect_timeout' : REFUSED.has(code) ? 'refused' : 'reset');
    else finish(code === 'ETIMEDOUT' ? 'timeout' : 'reset');
  };

  const send = (): void => {
    const text = requestHead(spec);
    if (spec.method === 'GET') {
      socket.write(text, 'latin1', () => { written = performance.now(); });
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
          if (last) written = performance.now();
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
    connectMs = performance.now() - t0;
    send();
  };

  const timer = setTimeout(() => finish(connected ? 'timeout' : 'connect_timeout'), spec.timeoutMs);
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('error', onError);
  if (pooled) send();
  else socket.once('connect', onConnect);

  return { done, abort: () => finish('aborted') };
}
