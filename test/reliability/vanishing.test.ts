/**
 * Clients that vanish: 1 GiB downloads and uploads abandoned at random points
 * (seeded, so a failure reproduces with RELIABILITY_SEED), and CONNECT clients
 * that reset. Afterwards the server holds no more descriptors than before,
 * its memory is back near where it was, and it still serves.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { fdCount, pollUntil, prng, rssKiB, testSeed } from '../helpers/proc';
import { heartbeatProblem, KeepAliveConnection, requestBytes } from '../helpers/raw-http';
import { kill, startServer, type Running } from '../helpers/server';

const GIB = 1024 * 1024 * 1024;
const MIB = 1024 * 1024;
/** RSS may sit this far above the warmed-up baseline afterwards (V8 and malloc keep some pages). */
const RSS_TOLERANCE_KIB = 16 * 1024;

type Rng = () => number;
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)] as T;

const DOWNLOAD_MODES = ['before-response', 'after-headers', 'mid-body', 'reset-mid-body', 'stall-then-close'] as const;
const UPLOAD_MODES = ['mid-headers', 'declared-mid-body', 'chunked-mid-body', 'reset-mid-body'] as const;

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => resolve(sock));
    sock.once('error', reject);
  });
}

const drained = (sock: net.Socket): Promise<void> => new Promise((resolve) => {
  const done = (): void => { sock.off('drain', done); sock.off('close', done); resolve(); };
  sock.on('drain', done);
  sock.on('close', done);
});
const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A 1 GiB download abandoned as `mode` says; resolves with whether response headers had arrived. */
async function abandonDownload(port: number, rng: Rng): Promise<boolean> {
  const mode = pick(rng, DOWNLOAD_MODES);
  const cutAt = Math.floor(rng() * 32 * MIB);
  const sock = await connect(port);
  sock.on('error', () => undefined);
  sock.write(requestBytes({ method: 'GET', target: `/heartbeat/${GIB}` }));
  if (mode === 'before-response') {
    sock.destroy();
    return false;
  }
  return new Promise((resolve) => {
    let got = 0;
    let headers = false;
    const end = (how: 'destroy' | 'reset'): void => {
      sock.removeAllListeners('data');
      if (how === 'reset') sock.resetAndDestroy();
      else sock.destroy();
      resolve(headers);
    };
    sock.on('close', () => resolve(headers));
    sock.on('data', (c: Buffer) => {
      got += c.length;
      headers = true;
      if (mode === 'after-headers') return end('destroy');
      if (got < cutAt) return;
      if (mode === 'mid-body') return end('destroy');
      if (mode === 'reset-mid-body') return end('reset');
      // stall-then-close: stop reading (the server's writes back up), then go away.
      sock.pause();
      sock.removeAllListeners('data');
      void delay(Math.floor(rng() * 100)).then(() => end('destroy'));
    });
  });
}

/** An upload abandoned as `mode` says, after a random part of its body. */
async function abandonUpload(port: number, rng: Rng): Promise<void> {
  const mode = pick(rng, UPLOAD_MODES);
  const cutAt = Math.floor(rng() * 8 * MIB);
  const sock = await connect(port);
  sock.on('error', () => undefined);
  if (mode === 'mid-headers') {
    const head = requestBytes({ method: 'POST', target: '/heartbeat/17', headers: [`Content-Length: ${64 * MIB}`] });
    sock.write(head.subarray(0, Math.floor(rng() * head.length)));
    await delay(Math.floor(rng() * 20));
    sock.destroy();
    return;
  }
  const chunked = mode === 'chunked-mid-body';
  sock.write(requestBytes({
    method: 'POST', target: '/heartbeat/17',
    headers: [chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${64 * MIB}`],
  }));
  const piece = Buffer.alloc(64 * 1024, 'u');
  const framed = Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]);
  let sent = 0;
  while (sent < cutAt && !sock.destroyed) {
    // The last piece may stop mid-chunk.
    const chunk = chunked ? framed.subarray(0, Math.min(framed.length, cutAt - sent)) : piece.subarray(0, Math.min(piece.length, cutAt - sent));
    sent += chunk.length;
    if (!sock.write(chunk)) await drained(sock);
  }
  if (mode === 'reset-mid-body' && !sock.destroyed) sock.resetAndDestroy();
  else sock.destroy();
}

/**
 * A CONNECT (which heartbeat refuses with 405) followed by 1 MiB it never reads, whose client
 * resets at once, or once the 405 has arrived.
 */
async function resetConnect(port: number, afterAnswer: boolean): Promise<void> {
  const sock = await connect(port);
  sock.on('error', () => undefined);
  const answered = new Promise((r) => { sock.once('data', r); sock.once('close', r); });
  sock.write(`CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n${'x'.repeat(1024 * 1024)}`);
  await (afterAnswer ? answered : new Promise((r) => setImmediate(r)));
  sock.resetAndDestroy();
}

/** Runs `n` tasks, `width` at a time. */
async function inParallel<T>(n: number, width: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < n) {
      const i = next++;
      out[i] = await task(i);
    }
  }));
  return out;
}

describe('reliability: vanishing clients', function () {
  this.timeout(120_000);
  let hb: Running | undefined;
  afterEach(() => kill(hb));

  it('abandoned 1 GiB downloads, abandoned uploads and reset CONNECTs (2 rounds of 100, 100, 200) leave no descriptors or memory behind', async () => {
    const seed = testSeed(8);
    // One generator per client, so each one's choices do not depend on how the others interleave.
    const rng = (kind: number, i: number): Rng => prng(seed * 100_003 + kind * 10_007 + i);
    const ctx = `(seed ${seed}; rerun with RELIABILITY_SEED=${seed})`;
    hb = await startServer(['--max', String(GIB), '--log']);
    const { port } = hb;
    const pid = hb.proc.pid as number;
    const fds0 = fdCount(pid);

    // One round: 100 downloads, 100 uploads and 200 CONNECTs abandoned, 10 clients at a time.
    const round = async (r: number): Promise<number> => {
      const downloads = await inParallel(100, 10, (i) => abandonDownload(port, rng(2 * r, i)));
      await inParallel(100, 10, (i) => abandonUpload(port, rng(2 * r + 1, i)));
      await inParallel(200, 10, (i) => resetConnect(port, i % 2 === 1));
      return downloads.filter(Boolean).length;
    };
    const settledFds = async (when: string): Promise<void> => {
      // Every descriptor is released as the server notices each client is gone.
      const n = await pollUntil(() => fdCount(pid), (v) => v <= fds0, 10_000);
      assert.ok(n <= fds0, `server holds ${n} fds ${when}, ${fds0} at start ${ctx}`);
    };

    // A first round warms the server up (V8 sizes its heap to the traffic), and sets the memory baseline.
    let begun = await round(0);
    await settledFds('after the first round');
    const rss0 = rssKiB(pid);
    // The same again: nothing may stay behind.
    begun += await round(1);
    await settledFds('after the second round');
    const rss1 = await pollUntil(() => rssKiB(pid), (kib) => kib <= rss0 + RSS_TOLERANCE_KIB, 15_000, 250);
    assert.ok(rss1 <= rss0 + RSS_TOLERANCE_KIB, `RSS ${rss1} KiB after the second round, ${rss0} KiB after the first (tolerance ${RSS_TOLERANCE_KIB} KiB) ${ctx}`);

    // The server noticed every download that had begun: each is logged as aborted, far short of 1 GiB.
    const gibLines = hb.lines.filter((l) => l.includes(`\tGET\t/heartbeat/${GIB}\t`)).map((l) => l.split('\t'));
    assert.ok(gibLines.length >= begun, `${gibLines.length} download lines logged, ${begun} downloads had begun ${ctx}`);
    for (const cols of gibLines) {
      assert.equal(cols[9], 'true', `a vanished download logged as not aborted: ${cols.join(' ')}`);
      assert.ok(Number(cols[4]) < GIB, `bytes_out ${cols[4]}`);
    }

    // And it still serves, big and small.
    const conn = await KeepAliveConnection.connect(port);
    assert.equal(heartbeatProblem(await conn.send(requestBytes({ method: 'GET', target: `/heartbeat/${16 * MIB}` })), 16 * MIB), undefined);
    const up = await conn.send(requestBytes({ method: 'POST', target: '/heartbeat/17', body: MIB }));
    assert.equal(heartbeatProblem(up, 17), undefined);
    assert.equal(up.headers['x-received-bytes'], String(MIB));
    conn.close();
    assert.equal(hb.lines.filter((l) => /\tlifecycle\terror\t/.test(l)).length, 0, 'no error was logged');
    assert.equal(await hb.stop(), 0);
  });
});
