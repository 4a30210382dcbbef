/**
 * The load worker: a process of its own (the harness pins it to its own core)
 * that runs what the harness asks over IPC — autocannon for request rates and
 * latencies, and single big transfers whose bytes it checks — so the load never
 * shares an event loop with the server or with the harness.
 */
import http from 'node:http';
import net from 'node:net';
import autocannon from 'autocannon';
import { PatternChecker } from '../scripts/pattern-check';
import { buildPayload } from '../src/http/payload';
import type { HttpFigures, LoadJob, LoadReply, LoadRequest, TransferFigures } from './protocol';

/** Latency histogram: one bucket per microsecond up to 1 s (autocannon's own has 1 ms resolution). */
const LATENCY_BUCKETS = 1_000_000;
const latencies = new Uint32Array(LATENCY_BUCKETS);

function percentileMs(count: number, p: number): number {
  const rank = Math.max(1, Math.ceil(count * p));
  let seen = 0;
  for (let us = 0; us < LATENCY_BUCKETS; us++) {
    seen += latencies[us] as number;
    if (seen >= rank) return Math.max(us, 1) / 1000;
  }
  return LATENCY_BUCKETS / 1000;
}

type HttpJob = Extract<LoadJob, { kind: 'http' }>;

function runAutocannon(job: HttpJob): Promise<HttpFigures> {
  latencies.fill(0);
  let counted = 0;
  return new Promise((resolve, reject) => {
    const instance = autocannon({ url: job.url, connections: job.connections, duration: job.seconds, headers: job.headers }, (err, r) => {
      if (err) return reject(err instanceof Error ? err : new Error(String(err)));
      const seconds = (r.finish.getTime() - r.start.getTime()) / 1000;
      resolve({
        reqPerSec: r['2xx'] / seconds,
        p50Ms: percentileMs(counted, 0.5),
        p99Ms: percentileMs(counted, 0.99),
        completed: r['2xx'],
        seconds,
        errors: r.errors,
        non2xx: r.non2xx,
      });
    });
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status < 200 || status > 299) return;
      const us = Math.min(Math.round(ms * 1000), LATENCY_BUCKETS - 1);
      latencies[us] = (latencies[us] as number) + 1;
      counted++;
    });
  });
}

const LEAN_READ_BUFFER = 256 * 1024;
const MAX_HEAD = 16 * 1024;

interface ResponseEvents {
  /** A piece of the body, a view into the read buffer that is only valid during the call. */
  body?(piece: Buffer): void;
  /** A whole response has been read. */
  end(status: number): void;
  error(e: Error): void;
}

/**
 * A keep-alive connection that reads responses into one fixed buffer (net's
 * `onread`: no allocation per read, no stream) and frames them by
 * Content-Length. The caller writes the requests.
 */
function leanConnection(url: URL, on: ResponseEvents): net.Socket {
  let head = '';
  let inBody = false;
  let remaining = 0;
  let status = 0;
  const finish = (): void => {
    inBody = false;
    on.end(status);
  };
  const onread = (n: number, buf: Buffer): boolean => {
    let off = 0;
    while (off < n && !sock.destroyed) {
      if (!inBody) {
        const end = Math.min(n, off + MAX_HEAD);
        const before = head.length;
        head += buf.toString('latin1', off, end);
        const i = head.indexOf('\r\n\r\n');
        if (i < 0) {
          if (head.length > MAX_HEAD) {
            sock.destroy();
            on.error(new Error('response head over 16 KiB'));
            return false;
          }
          off = end;
          continue;
        }
        status = Number(head.slice(9, 12));
        const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head.slice(0, i));
        remaining = cl ? Number(cl[1]) : 0;
        off += i + 4 - before;
        head = '';
        inBody = true;
        if (remaining === 0) finish();
      } else {
        const take = Math.min(remaining, n - off);
        on.body?.(buf.subarray(off, off + take));
        remaining -= take;
        off += take;
        if (remaining === 0) finish();
      }
    }
    return true;
  };
  const sock = net.connect({
    host: url.hostname,
    port: Number(url.port),
    noDelay: true,
    onread: { buffer: Buffer.allocUnsafe(LEAN_READ_BUFFER), callback: onread },
  });
  sock.on('error', (e) => on.error(e));
  return sock;
}

const getRequest = (u: URL, close = false, headers: Record<string, string> = {}): Buffer => {
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  return Buffer.from(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\n${extra}${close ? 'Connection: close\r\n' : ''}\r\n`, 'latin1');
};

/**
 * The lean client: each connection sends a GET, reads the whole response, and
 * sends the next GET on the same connection, until `seconds` have passed.
 */
function runLean(job: HttpJob): Promise<HttpFigures> {
  latencies.fill(0);
  const u = new URL(job.url);
  const request = getRequest(u, false, job.headers);
  let completed = 0;
  let non2xx = 0;
  let errors = 0;
  let stopping = false;
  const sockets: net.Socket[] = [];

  const connection = (): void => {
    let sentAt = 0n;
    const send = (): void => {
      sentAt = process.hrtime.bigint();
      sock.write(request);
    };
    const sock = leanConnection(u, {
      end(status) {
        if (stopping) return;
        if (status >= 200 && status <= 299) {
          const us = Math.min(Number((process.hrtime.bigint() - sentAt) / 1000n), LATENCY_BUCKETS - 1);
          latencies[us] = (latencies[us] as number) + 1;
          completed++;
        } else non2xx++;
        send();
      },
      error() {
        if (!stopping) errors++;
      },
    });
    sock.on('connect', send);
    sockets.push(sock);
  };

  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < job.connections; i++) connection();
    setTimeout(() => {
      stopping = true;
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      for (const s of sockets) s.destroy();
      resolve({
        reqPerSec: completed / seconds,
        p50Ms: percentileMs(completed, 0.5),
        p99Ms: percentileMs(completed, 0.99),
        completed,
        seconds,
        errors,
        non2xx,
      });
    }, job.seconds * 1000);
  });
}

/** One GET of a big body, read like the lean client and checked against the pattern piece by piece. */
function getBig(job: Extract<LoadJob, { kind: 'get' }>): Promise<TransferFigures> {
  return new Promise((resolve, reject) => {
    const u = new URL(job.url);
    const checker = new PatternChecker();
    let t0 = 0n;
    const sock = leanConnection(u, {
      body: (piece) => checker.add(piece),
      end(status) {
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        sock.destroy();
        const ok = status === 200 && checker.bytes === job.bytes && checker.bad < 0;
        const detail = checker.bad >= 0 ? `pattern broken at byte ${checker.bad}` : `${checker.bytes} bytes, pattern ok`;
        resolve({ seconds, bytes: checker.bytes, ok, detail: `status ${status}, ${detail}` });
      },
      error: reject,
    });
    sock.on('connect', () => {
      t0 = process.hrtime.bigint();
      sock.write(getRequest(u, true));
    });
  });
}

function upload(job: Extract<LoadJob, { kind: 'upload' }>): Promise<TransferFigures> {
  return new Promise((resolve, reject) => {
    const chunk = buildPayload();
    const t0 = process.hrtime.bigint();
    const req = http.request(job.url, {
      method: 'POST',
      agent: false,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': job.bytes },
    }, (res) => {
      res.resume();
      res.on('error', reject);
      res.on('end', () => {
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        const received = Number(res.headers['x-received-bytes']);
        const ok = res.statusCode === 200 && received === job.bytes;
        resolve({ seconds, bytes: received, ok, detail: `status ${res.statusCode}, server received ${received} bytes` });
      });
    });
    req.on('error', reject);
    let sent = 0;
    const pump = (): void => {
      while (sent < job.bytes) {
        const n = Math.min(chunk.length, job.bytes - sent);
        sent += n;
        if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

function run(job: LoadJob): Promise<HttpFigures | TransferFigures> {
  switch (job.kind) {
    case 'http': return job.client === 'lean' ? runLean(job) : runAutocannon(job);
    case 'get': return getBig(job);
    case 'upload': return upload(job);
  }
}

process.on('message', (msg: LoadRequest) => {
  const reply = (r: LoadReply): void => void process.send?.(r);
  run(msg.job).then(
    (figures) => reply({ id: msg.id, ok: true, figures }),
    (e: unknown) => reply({ id: msg.id, ok: false, error: e instanceof Error ? e.message : String(e) }),
  );
});
// The harness going away closes the IPC channel: stop with it.
process.on('disconnect', () => process.exit(0));
