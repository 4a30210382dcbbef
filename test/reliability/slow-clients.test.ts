/**
 * Clients that hold connections without finishing anything: slowloris sockets
 * that trickle their headers (cut by the headers timeout) and a thousand idle
 * keep-alive connections (held, while new requests are still served).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { fdCount, openFilesLimit, pollUntil } from '../helpers/proc';
import { heartbeatProblem, KeepAliveConnection, requestBytes } from '../helpers/raw-http';
import { kill, request, sleep, startServer, type Running } from '../helpers/server';

interface Trickled {
  /** The server closed the connection (rather than our own time bound ending it). */
  cutByServer: boolean;
  bytesSent: number;
  answer: string;
}

/**
 * Sends a request head one byte every `everyMs`, a head too long to ever finish
 * in time; resolves when the server closes the connection or after `boundMs`.
 */
function trickle(port: number, everyMs: number, boundMs: number): { done: Promise<Trickled>; total: number } {
  const text = `GET /heartbeat/17 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ${'a'.repeat(2000)}`;
  const done = new Promise<Trickled>((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let sent = 0;
    let answer = '';
    let settled = false;
    const finish = (cutByServer: boolean): void => {
      if (settled) return;
      settled = true;
      clearInterval(drip);
      clearTimeout(bound);
      sock.destroy();
      resolve({ cutByServer, bytesSent: sent, answer });
    };
    const drip = setInterval(() => {
      if (sent < text.length && sock.writable) sock.write(text[sent++] as string);
    }, everyMs);
    const bound = setTimeout(() => finish(false), boundMs);
    sock.on('data', (c: Buffer) => { answer += c.toString('latin1'); });
    sock.on('error', () => finish(true));
    sock.on('close', () => finish(true));
  });
  return { done, total: text.length };
}

describe('reliability: slow and idle clients', function () {
  this.timeout(90_000);
  let hb: Running | undefined;
  afterEach(() => kill(hb));

  it('cuts slowloris sockets at the headers timeout (408) while other clients are served', async () => {
    hb = await startServer(['--headers-timeout', '1000']);
    const port = hb.port;
    // 20 sockets trickling a byte every 50 ms: their 2 KB heads would take 100 s to finish.
    const slow = Array.from({ length: 20 }, () => trickle(port, 50, 30_000));
    let open = slow.length;
    const all = Promise.all(slow.map((s) => s.done.finally(() => { open--; })));

    // Meanwhile, fresh clients keep asking (bounded in count).
    const served: number[] = [];
    for (let i = 0; i < 400 && open > 0; i++) {
      const r = await request(port, 'GET', '/heartbeat/1024');
      served.push(r.status);
      if (r.body.length !== 1024) served.push(-1);
      await sleep(20);
    }
    const results = await all;
    for (const [i, r] of results.entries()) {
      assert.ok(r.cutByServer, `slowloris ${i} was not cut by the server within 30 s (sent ${r.bytesSent} bytes)`);
      assert.ok(r.bytesSent < slow[i]!.total, `slowloris ${i} sent its whole head`);
      assert.match(r.answer, /^HTTP\/1\.1 408 /, `slowloris ${i} got ${JSON.stringify(r.answer)}`);
    }
    assert.ok(served.length >= 3, `only ${served.length} requests were served while the slowloris sockets were open`);
    assert.deepEqual([...new Set(served)], [200], 'every request made meanwhile was answered 200 with its full body');
    assert.equal(await hb.stop(), 0);
  });

  it('holds 1,000 idle keep-alive connections and still serves new requests', async () => {
    const IDLE = 1000;
    // Node raises its soft fd limit to the hard one at start-up; both processes need room for the sockets.
    const mine = openFilesLimit('self');
    assert.ok(mine >= IDLE + 200, `this test process may open only ${mine} files; it needs ${IDLE + 200} (raise the hard limit: ulimit -Hn)`);
    hb = await startServer();
    const pid = hb.proc.pid as number;
    const theirs = openFilesLimit(pid);
    assert.ok(theirs >= IDLE + 200, `the server may open only ${theirs} files; it needs ${IDLE + 200}`);
    const baseline = fdCount(pid);

    // Each connection makes one request, then sits idle with keep-alive.
    const idle: KeepAliveConnection[] = [];
    const hello = requestBytes({ method: 'GET', target: '/heartbeat/1' });
    for (let batch = 0; batch < IDLE / 100; batch++) {
      const conns = await Promise.all(Array.from({ length: 100 }, () => KeepAliveConnection.connect(hb!.port)));
      const replies = await Promise.all(conns.map((c) => c.send(hello)));
      for (const r of replies) assert.equal(heartbeatProblem(r, 1), undefined);
      idle.push(...conns);
    }
    assert.ok(idle.every((c) => c.reusable), 'every connection is still open and reusable');
    // The server really holds them: one descriptor each.
    const held = await pollUntil(() => fdCount(pid), (n) => n >= baseline + IDLE, 5000);
    assert.ok(held >= baseline + IDLE, `server holds ${held} fds, baseline ${baseline}`);

    // New clients are served, on new connections and on some of the idle ones.
    for (let i = 0; i < 50; i++) {
      const r = await request(hb.port, 'GET', '/heartbeat/65536');
      assert.equal(r.status, 200);
      assert.equal(r.body.length, 65536);
    }
    const again = await Promise.all(idle.filter((_, i) => i % 100 === 0).map((c) => c.send(requestBytes({ method: 'GET', target: '/heartbeat/17' }))));
    for (const r of again) assert.equal(heartbeatProblem(r, 17), undefined);
    const ready = await request(hb.port, 'GET', '/readyz');
    assert.equal(ready.status, 200);

    for (const c of idle) c.close();
    const after = await pollUntil(() => fdCount(pid), (n) => n <= baseline, 10_000);
    assert.ok(after <= baseline, `server fds ${after} after the clients left, baseline ${baseline}`);
    assert.equal(await hb.stop(), 0);
  });
});
