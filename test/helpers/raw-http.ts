/**
 * HTTP/1.1 over raw TCP, for requests no HTTP client would send and for load
 * whose every outcome is classified: a byte-level request builder, a streaming
 * response parser, and a keep-alive connection that says exactly how a request
 * failed (refused, reset or closed before any response byte, or cut mid-response).
 */
import net from 'node:net';
import { PatternChecker } from '../../scripts/pattern-check';

const CRLF = '\r\n';
const HEAD_END = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);
const MAX_HEAD = 64 * 1024;

export interface RequestSpec {
  method: string;
  target: string;
  /** Extra header lines, without CRLF. A Host header is added unless `noHost`. */
  headers?: string[];
  noHost?: boolean;
  /** Adds `Connection: close`. */
  close?: boolean;
  /** Body bytes; a number means that many bytes of 'x' with their Content-Length. */
  body?: Buffer | number;
}

/** The bytes of one HTTP/1.1 request. */
export function requestBytes(spec: RequestSpec): Buffer {
  const lines = [`${spec.method} ${spec.target} HTTP/1.1`];
  if (!spec.noHost) lines.push('Host: 127.0.0.1');
  if (spec.close) lines.push('Connection: close');
  let body: Buffer = EMPTY;
  if (typeof spec.body === 'number') {
    body = Buffer.alloc(spec.body, 'x');
    lines.push(`Content-Length: ${spec.body}`);
  } else if (spec.body) {
    body = spec.body;
  }
  lines.push(...(spec.headers ?? []));
  return Buffer.concat([Buffer.from(lines.join(CRLF) + CRLF + CRLF, 'latin1'), body]);
}

export interface RawResponse {
  status: number;
  /** Header names in lower case; repeated headers joined with ", ". */
  headers: Record<string, string>;
  bodyBytes: number;
  /** The body, when the parser keeps bodies. */
  body?: Buffer;
  /** Offset of the first byte that breaks the heartbeat pattern (-1: none, or not checked). */
  patternBad: number;
}

export class ProtocolError extends Error {}

type BodyMode = 'length' | 'chunked' | 'eof';

interface InFlight {
  status: number;
  headers: Record<string, string>;
  mode: BodyMode;
  remaining: number;
  /** chunked: 'size' awaiting a size line, 'data' inside a chunk, 'crlf' after one, 'trailer' after the last. */
  chunkState: 'size' | 'data' | 'crlf' | 'trailer';
  bodyBytes: number;
  chunks?: Buffer[];
  check?: PatternChecker;
}

/**
 * Parses a stream of HTTP/1.1 responses. Call `expect(isHead)` once per request
 * sent (a HEAD response has no body), `push` with every chunk received, and
 * `end` when the connection has closed.
 */
export class ResponseParser {
  private buf: Buffer = EMPTY;
  private cur: InFlight | undefined;
  private readonly heads: boolean[] = [];

  constructor(private readonly opts: { keepBody?: boolean; checkPattern?: boolean } = {}) {}

  expect(isHead: boolean): void {
    this.heads.push(isHead);
  }

  /** Where a response stands that is not complete: for failure messages. */
  progress(): string {
    const c = this.cur;
    if (!c) return this.buf.length > 0 ? `${this.buf.length} bytes of a response head` : 'nothing of a response';
    return `status ${c.status}, ${c.bodyBytes} body bytes of ${c.headers['content-length'] ?? '?'}, Connection: ${c.headers.connection ?? '-'}`;
  }

  /** True while part of a response has arrived but not all of it. */
  get midResponse(): boolean {
    return this.cur !== undefined || this.buf.length > 0;
  }

  push(chunk: Buffer): RawResponse[] {
    const out: RawResponse[] = [];
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      if (!this.cur && !this.startResponse(out)) break;
      if (!this.cur) continue; // an interim (1xx) response
      if (!this.readBody(this.cur)) break;
      out.push(this.finish(this.cur));
      this.cur = undefined;
    }
    return out;
  }

  /** The connection closed: a response whose body runs to the close is now complete. */
  end(): RawResponse | undefined {
    if (this.cur?.mode === 'eof') {
      const r = this.finish(this.cur);
      this.cur = undefined;
      return r;
    }
    return undefined;
  }

  private startResponse(out: RawResponse[]): boolean {
    const i = this.buf.indexOf(HEAD_END);
    if (i < 0) {
      if (this.buf.length > MAX_HEAD) throw new ProtocolError('response head too long');
      return false;
    }
    const lines = this.buf.toString('latin1', 0, i).split(CRLF);
    this.buf = this.buf.subarray(i + HEAD_END.length);
    const statusLine = lines[0] ?? '';
    const m = /^HTTP\/1\.[01] (\d{3})(?: [^\r\n]*)?$/.exec(statusLine);
    if (!m) throw new ProtocolError(`bad status line ${JSON.stringify(statusLine.slice(0, 80))}`);
    const status = Number(m[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new ProtocolError(`bad header line ${JSON.stringify(line.slice(0, 80))}`);
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    if (status < 200) {
      out.push({ status, headers, bodyBytes: 0, patternBad: -1 });
      return true;
    }
    const isHead = this.heads.shift() ?? false;
    const cur: InFlight = { status, headers, mode: 'length', remaining: 0, chunkState: 'size', bodyBytes: 0 };
    if (this.opts.keepBody) cur.chunks = [];
    if (this.opts.checkPattern && status === 200) cur.check = new PatternChecker();
    if (isHead || status === 204 || status === 304) {
      cur.mode = 'length';
    } else if (/\bchunked\b/i.test(headers['transfer-encoding'] ?? '')) {
      cur.mode = 'chunked';
    } else if (headers['content-length'] !== undefined) {
      if (!/^\d+$/.test(headers['content-length'])) throw new ProtocolError(`bad Content-Length ${headers['content-length']}`);
      cur.remaining = Number(headers['content-length']);
    } else {
      cur.mode = 'eof';
    }
    this.cur = cur;
    return true;
  }

  private take(cur: InFlight, n: number): void {
    const part = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    cur.bodyBytes += n;
    cur.chunks?.push(part);
    cur.check?.add(part);
  }

  /** Consumes body bytes; true once the body is complete. */
  private readBody(cur: InFlight): boolean {
    if (cur.mode === 'eof') {
      this.take(cur, this.buf.length);
      return false;
    }
    if (cur.mode === 'length') {
      const n = Math.min(cur.remaining, this.buf.length);
      this.take(cur, n);
      cur.remaining -= n;
      return cur.remaining === 0;
    }
    for (;;) {
      if (cur.chunkState === 'data') {
        const n = Math.min(cur.remaining, this.buf.length);
        this.take(cur, n);
        cur.remaining -= n;
        if (cur.remaining > 0) return false;
        cur.chunkState = 'crlf';
      }
      const eol = this.buf.indexOf(CRLF);
      if (eol < 0) return false;
      const line = this.buf.toString('latin1', 0, eol);
      this.buf = this.buf.subarray(eol + 2);
      if (cur.chunkState === 'crlf') {
        if (line !== '') throw new ProtocolError('missing CRLF after a chunk');
        cur.chunkState = 'size';
      } else if (cur.chunkState === 'trailer') {
        if (line === '') return true;
      } else {
        const size = parseInt(line, 16);
        if (!/^[0-9a-fA-F]+/.test(line) || !Number.isSafeInteger(size)) throw new ProtocolError(`bad chunk size ${JSON.stringify(line)}`);
        if (size === 0) cur.chunkState = 'trailer';
        else {
          cur.chunkState = 'data';
          cur.remaining = size;
        }
      }
    }
  }

  private finish(cur: InFlight): RawResponse {
    return {
      status: cur.status,
      headers: cur.headers,
      bodyBytes: cur.bodyBytes,
      body: cur.chunks ? Buffer.concat(cur.chunks) : undefined,
      patternBad: cur.check ? cur.check.bad : -1,
    };
  }
}

export interface Exchange {
  /** Every complete response, in order (1xx included). */
  responses: RawResponse[];
  /** How the exchange ended: the server closed, reset, or we gave up waiting. */
  end: 'closed' | 'reset' | 'timeout';
  /** Bytes after the last complete response (a cut response). */
  leftover: boolean;
  raw: Buffer;
}

/**
 * Sends `bytes` on a new connection and collects what comes back until the
 * server closes the connection or `ms` pass.
 */
export function exchange(port: number, bytes: Buffer, opts: { ms?: number; heads?: boolean[] } = {}):
  Promise<Exchange> {
  const parser = new ResponseParser({ keepBody: true });
  for (const h of opts.heads ?? []) parser.expect(h);
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const responses: RawResponse[] = [];
    const raw: Buffer[] = [];
    let finished = false;
    const done = (end: Exchange['end']): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      sock.destroy();
      if (end !== 'timeout') {
        const last = parser.end();
        if (last) responses.push(last);
      }
      resolve({ responses, end, leftover: parser.midResponse, raw: Buffer.concat(raw) });
    };
    const timer = setTimeout(() => done('timeout'), opts.ms ?? 5000);
    sock.on('data', (c: Buffer) => {
      raw.push(c);
      try {
        responses.push(...parser.push(c));
      } catch (e) {
        finished = true;
        clearTimeout(timer);
        sock.destroy();
        reject(new Error(`${(e as Error).message}; received ${JSON.stringify(Buffer.concat(raw).toString('latin1').slice(0, 300))}`));
        return;
      }
    });
    sock.on('end', () => done('closed'));
    sock.on('close', () => done('closed'));
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') done('reset');
      else if (!finished) {
        finished = true;
        clearTimeout(timer);
        reject(e);
      }
    });
    sock.write(bytes);
  });
}

/** How a request on a keep-alive connection failed. */
export type FailureKind =
  | 'refused' // the connection could not be made (ECONNREFUSED): never accepted
  | 'closed-before-response' // closed or reset with no byte of the response: never answered
  | 'truncated' // part of the response arrived, then the connection ended
  | 'timeout' // no complete response within the time limit
  | 'protocol' // the response could not be parsed
  | 'other';

export class RequestFailure extends Error {
  constructor(readonly kind: FailureKind, detail: string) {
    super(`${kind}: ${detail}`);
  }
}

function classifyConnectError(e: NodeJS.ErrnoException): RequestFailure {
  if (e.code === 'ECONNREFUSED') return new RequestFailure('refused', e.code);
  if (e.code === 'ECONNRESET' || e.code === 'EPIPE') return new RequestFailure('closed-before-response', e.code);
  return new RequestFailure('other', e.code ?? e.message);
}

/**
 * One keep-alive connection that sends one request at a time and checks the
 * response (status, full declared length, the heartbeat pattern). After a
 * response with `Connection: close`, or any failure, it is not reusable.
 */
export class KeepAliveConnection {
  private readonly parser: ResponseParser;
  private pending: { resolve: (r: RawResponse) => void; reject: (e: RequestFailure) => void; timer?: NodeJS.Timeout } | undefined;
  private closedWith: RequestFailure | undefined;
  reusable = true;

  private constructor(private readonly sock: net.Socket, checkPattern: boolean, private readonly timeoutMs: number) {
    this.parser = new ResponseParser({ checkPattern });
    sock.setNoDelay(true);
    sock.on('data', (c: Buffer) => {
      let got: RawResponse[];
      try {
        got = this.parser.push(c);
      } catch (e) {
        this.fail(new RequestFailure('protocol', (e as Error).message));
        return;
      }
      for (const r of got) {
        if (r.status < 200) continue;
        if (/\bclose\b/i.test(r.headers.connection ?? '')) this.reusable = false;
        const p = this.pending;
        this.pending = undefined;
        if (p) {
          clearTimeout(p.timer);
          p.resolve(r);
        }
      }
    });
    sock.on('error', (e: NodeJS.ErrnoException) => this.ended(e.code ?? e.message));
    sock.on('close', () => this.ended('closed'));
  }

  static connect(port: number, opts: { checkPattern?: boolean; timeoutMs?: number } = {}): Promise<KeepAliveConnection> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1');
      const onError = (e: NodeJS.ErrnoException): void => reject(classifyConnectError(e));
      sock.once('error', onError);
      sock.once('connect', () => {
        sock.off('error', onError);
        resolve(new KeepAliveConnection(sock, opts.checkPattern ?? true, opts.timeoutMs ?? 30_000));
      });
    });
  }

  get socket(): net.Socket {
    return this.sock;
  }

  /** Sends one request and resolves with its complete response. */
  send(bytes: Buffer, isHead = false): Promise<RawResponse> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    if (this.pending) return Promise.reject(new RequestFailure('other', 'a request is already pending'));
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.pending.timer = setTimeout(() => this.fail(new RequestFailure('timeout', `no response within ${this.timeoutMs} ms`)), this.timeoutMs);
      this.parser.expect(isHead);
      this.sock.write(bytes);
    });
  }

  close(): void {
    this.reusable = false;
    this.sock.destroy();
  }

  private ended(how: string): void {
    if (this.closedWith) return;
    this.reusable = false;
    const last = this.parser.end();
    if (last && this.pending) {
      const p = this.pending;
      this.pending = undefined;
      clearTimeout(p.timer);
      p.resolve(last);
    }
    const kind: FailureKind = this.parser.midResponse ? 'truncated' : 'closed-before-response';
    this.fail(new RequestFailure(kind, kind === 'truncated' ? `${how} after ${this.parser.progress()}` : how));
  }

  private fail(f: RequestFailure): void {
    this.closedWith ??= f;
    this.reusable = false;
    const p = this.pending;
    this.pending = undefined;
    if (p) {
      clearTimeout(p.timer);
      p.reject(f);
    }
    this.sock.destroy();
  }
}

/** Checks that a heartbeat response is complete and right: 200, the size asked for, the pattern. */
export function heartbeatProblem(r: RawResponse, size: number, isHead = false): string | undefined {
  if (r.status !== 200) return `status ${r.status}`;
  if (r.headers['content-length'] !== String(size)) return `Content-Length ${r.headers['content-length']} for ${size}`;
  const want = isHead ? 0 : size;
  if (r.bodyBytes !== want) return `body ${r.bodyBytes} bytes, want ${want}`;
  if (r.patternBad >= 0) return `wrong byte at offset ${r.patternBad}`;
  return undefined;
}
