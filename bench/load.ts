/**
 * The load worker: a process of its own (the harness pins it to its own core)
 * that runs what the harness asks over IPC — autocannon for request rates and
 * latencies, and single big transfers whose bytes it checks — so the load never
 * shares an event loop with the server or with the harness.
 */
import http from 'node:http';
import autocannon from 'autocannon';
import { PatternChecker } from '../test/helpers/pattern';
import { buildPayload } from '../src/payload';
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

function runHttp(job: Extract<LoadJob, { kind: 'http' }>): Promise<HttpFigures> {
  latencies.fill(0);
  let counted = 0;
  return new Promise((resolve, reject) => {
    const instance = autocannon({ url: job.url, connections: job.connections, duration: job.seconds }, (err, r) => {
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

function getBig(job: Extract<LoadJob, { kind: 'get' }>): Promise<TransferFigures> {
  return new Promise((resolve, reject) => {
    const checker = new PatternChecker();
    const t0 = process.hrtime.bigint();
    http.get(job.url, { agent: false }, (res) => {
      res.on('data', (c: Buffer) => checker.add(c));
      res.on('error', reject);
      res.on('end', () => {
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        const ok = res.statusCode === 200 && checker.bytes === job.bytes && checker.bad < 0;
        const detail = checker.bad >= 0 ? `pattern broken at byte ${checker.bad}` : `${checker.bytes} bytes, pattern ok`;
        resolve({ seconds, bytes: checker.bytes, ok, detail: `status ${res.statusCode}, ${detail}` });
      });
    }).on('error', reject);
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
    case 'http': return runHttp(job);
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
