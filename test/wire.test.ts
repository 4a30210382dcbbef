/**
 * Wire-exact answers (`{uri}/{size}?wire`, src/http/wire.ts) against the real compiled server over
 * TCP: every byte the server sends on the connection is counted, head and body.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { PATTERN } from '../src/http/payload';
import { fitWire, WIRE_FIXED_BYTES, wireMinimum } from '../src/http/wire';
import { kill, ROOT, startServer, type Running } from './helpers/server';

interface WireReply {
  /** Every byte the server sent on the connection until it closed it. */
  total: number;
  status: number;
  head: string;
  headers: string[];
  body: Buffer;
}

/** One request on a fresh connection; everything the server sends until it closes the connection. */
function exchange(port: number, method: string, target: string, body?: Buffer): Promise<WireReply> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`${method} ${target}: the server did not close the connection`)); }, 20_000);
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', reject);
    sock.on('end', () => {
      clearTimeout(timer);
      sock.end();
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      assert.ok(end > 0, `no head in ${JSON.stringify(all.toString('latin1').slice(0, 200))}`);
      const head = all.subarray(0, end + 4).toString('latin1');
      const lines = head.split('\r\n').slice(0, -2);
      resolve({ total: all.length, status: Number(lines[0]?.split(' ')[1]), head, headers: lines.slice(1), body: all.subarray(end + 4) });
    });
    const extra = body ? `Content-Length: ${body.length}\r\n` : '';
    sock.write(`${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}\r\n`);
    if (body) sock.write(body);
  });
}

const pattern = (n: number): Buffer => Buffer.from(PATTERN.repeat(Math.ceil(n / PATTERN.length)).slice(0, n), 'latin1');

describe('wire-exact answers: GET {uri}/{size}?wire', () => {
  let s: Running | undefined;
  let port = 0;
  before(async () => {
    s = await startServer(['--host', '127.0.0.1', '--max', '8388608']);
    port = s.port;
  });
  after(async () => { await s?.stop(); kill(s); });

  it('sends exactly size bytes on the wire, head and body, for sizes around every digit step and segment', async () => {
    const sizes = [193, 194, 202, 203, 204, 293, 294, 295, 1195, 1196, 1388, 1400, 1401, 1448, 1460, 1461, 2896, 9000, 65536, 1048576 + 300, 3 * 1048576 + 17];
    for (const n of sizes) {
      const r = await exchange(port, 'GET', `/heartbeat/${n}?wire`);
      assert.equal(r.status, 200, `${n}: ${r.head}`);
      assert.equal(r.total, n, `${n}?wire put ${r.total} bytes on the wire`);
      assert.ok(r.body.equals(pattern(r.body.length)), `${n}: the body is the pattern`);
      const length = r.headers.find((h) => h.startsWith('Content-Length:')) as string;
      assert.equal(Number(length.slice(15).trim()), r.body.length, `${n}: Content-Length is the body`);
    }
  });

  it('has exactly the documented headers, in order', async () => {
    const r = await exchange(port, 'GET', '/heartbeat/1400?wire');
    assert.deepEqual(r.headers.map((h) => (h.startsWith('Date: ') ? 'Date: *' : h)), [
      'Content-Type: text/plain; charset=utf-8',
      'Cache-Control: no-cache',
      'X-Content-Type-Options: nosniff',
      'Connection: close',
      'Content-Length: 1204',
      'Date: *',
    ]);
    assert.match(r.head, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(r.headers[5] as string, /^Date: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$/);
    assert.equal(WIRE_FIXED_BYTES, 192);
  });

  it('pads the one size in 10^k that no length fits with one space of whitespace (203 = 194 + 9)', async () => {
    const r = await exchange(port, 'GET', '/heartbeat/203?wire');
    assert.equal(r.total, 203);
    assert.ok(r.headers.includes('Content-Length:  9'), r.head);
    assert.equal(r.body.toString('latin1'), '012345678');
  });

  it('answers below the smallest possible response with 400 naming that minimum (193)', async () => {
    for (const n of [0, 1, 17, 192]) {
      const text = await rawText(port, `GET /heartbeat/${n}?wire HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.match(text, /^HTTP\/1\.1 400 /, String(n));
      assert.match(text, /\r\n\r\nwire size must be a whole number of bytes from 193 to 8388608 \(the whole response/, String(n));
    }
    assert.equal((await exchange(port, 'GET', '/heartbeat/193?wire')).total, 193);
    assert.equal(wireMinimum(), 193);
  });

  it('bounds the whole response by max, and the plain contract is unchanged', async () => {
    const over = await rawText(port, 'GET /heartbeat/8388609?wire HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(over, /^HTTP\/1\.1 400 [^]*from 193 to 8388608/);
    const plain = await rawText(port, 'GET /heartbeat/17 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(plain, /\r\nContent-Length: 17\r\n/);
    assert.ok(plain.endsWith('\r\n\r\n0123456789ABCDEF0'));
    // `wire` only as a parameter of its own: anything else is the plain answer
    for (const q of ['?wired', '?x=wire', '?wire=1']) {
      const other = await rawText(port, `GET /heartbeat/17${q} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.ok(other.endsWith('\r\n\r\n0123456789ABCDEF0'), q);
    }
    const among = await exchange(port, 'GET', '/heartbeat/500?x=1&wire&y');
    assert.equal(among.total, 500);
  });

  it('HEAD: the head a GET of that size gets (its bytes on the wire are the size less the body)', async () => {
    const get = await exchange(port, 'GET', '/heartbeat/1448?wire');
    const head = await exchange(port, 'HEAD', '/heartbeat/1448?wire');
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.equal(head.total, 1448 - get.body.length);
    assert.deepEqual(head.headers.filter((h) => !h.startsWith('Date')), get.headers.filter((h) => !h.startsWith('Date')));
  });

  it('POST: the answer to an upload, X-Received-Bytes included, is exactly size bytes', async () => {
    for (const [n, up] of [[1400, 5], [1400, 123456], [214, 9], [2000, 0]] as const) {
      const r = await exchange(port, 'POST', `/heartbeat/${n}?wire`, Buffer.alloc(up, 'x'));
      assert.equal(r.status, 200, r.head);
      assert.equal(r.total, n, `POST ${n}?wire after ${up} bytes: ${r.total} on the wire`);
      assert.ok(r.headers.includes(`X-Received-Bytes: ${up}`), r.head);
    }
    const small = await rawText(port, 'POST /heartbeat/200?wire HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx');
    assert.match(small, /^HTTP\/1\.1 400 [^]*from 214 to /);
    // the count's digits are known once the upload is read: 10 bytes need one more byte of head
    const counted = await rawText(port, `POST /heartbeat/214?wire HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\n${'x'.repeat(10)}`);
    assert.match(counted, /^HTTP\/1\.1 400 [^]*from 215 to /);
  });

  it('POST with Expect: 100-continue: the interim `100 Continue` counts, the whole stream is exactly size bytes', async () => {
    for (const [n, up] of [[400, 5], [1400, 1000], [239, 0]] as const) {
      // Everything the server sends on the connection: the interim answer, then the final one.
      const got = await new Promise<Buffer>((resolve, reject) => {
        const sock = net.connect(port, '127.0.0.1');
        const chunks: Buffer[] = [];
        let sent = false;
        sock.on('data', (c: Buffer) => {
          chunks.push(c);
          // The body only once the server said to go on, as a client honouring the expectation does.
          if (!sent && Buffer.concat(chunks).includes('HTTP/1.1 100 Continue\r\n\r\n')) {
            sent = true;
            sock.write(Buffer.alloc(up, 'x'));
          }
        });
        sock.on('error', reject);
        sock.on('end', () => { sock.end(); resolve(Buffer.concat(chunks)); });
        sock.write(`POST /heartbeat/${n}?wire HTTP/1.1\r\nHost: x\r\nContent-Length: ${up}\r\nExpect: 100-continue\r\n\r\n`);
      });
      const text = got.toString('latin1');
      assert.ok(text.startsWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n'), text.slice(0, 120));
      assert.equal(got.length, n, `POST ${n}?wire with Expect: 100-continue after ${up} bytes: ${got.length} on the wire`);
      assert.ok(text.includes(`X-Received-Bytes: ${up}\r\n`), text.slice(0, 400));
    }
    // The smallest such exchange is the POST minimum plus the 25 bytes of the interim answer; below it, 400
    // at once (no `100 Continue`: the body is not wanted).
    const small = await rawText(port, 'POST /heartbeat/238?wire HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n');
    assert.match(small, /^HTTP\/1\.1 400 [^]*from 239 to /);
  });

  it('--min bounds the whole response too', async () => {
    const m = await startServer(['--host', '127.0.0.1', '--min', '600']);
    try {
      const low = await rawText(m.port, 'GET /heartbeat/500?wire HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      assert.match(low, /^HTTP\/1\.1 400 [^]*from 600 to /);
      assert.equal((await exchange(m.port, 'GET', '/heartbeat/600?wire')).total, 600);
    } finally {
      await m.stop();
      kill(m);
    }
  });

  it('docs/mtu.md: the size table is what the server sends, and its head is the one documented', async () => {
    const doc = readFileSync(path.join(ROOT, 'docs', 'mtu.md'), 'utf8');
    const rows = [...doc.matchAll(/^\| (\d+) \| (\d+) \| `( ?\d+)`/gm)];
    assert.ok(rows.length >= 8, 'the table of sizes');
    for (const [, size, body, length] of rows) {
      assert.deepEqual(fitWire(Number(size)), { body: Number(body), length }, `row ${size}`);
      const r = await exchange(port, 'GET', `/heartbeat/${size}?wire`);
      assert.equal(r.total, Number(size));
      assert.equal(r.body.length, Number(body));
    }
    const block = /The head is fixed[^]*?```\n([^]*?)```/.exec(doc)?.[1] as string;
    const live = await exchange(port, 'GET', '/heartbeat/1400?wire');
    assert.deepEqual(block.trim().split('\n').slice(1).map((l) => l.replace(/^Date: .*/, 'Date')),
      live.headers.map((l) => l.replace(/^Date: .*/, 'Date')));
  });

  it('fits every size from the minimum to 200000 exactly', () => {
    for (let n = 0; n <= 200_000; n++) {
      const fit = fitWire(n);
      if (n < 193) { assert.equal(fit, undefined, String(n)); continue; }
      assert.ok(fit, String(n));
      assert.equal(WIRE_FIXED_BYTES + fit.length.length + fit.body, n, String(n));
      assert.equal(Number(fit.length), fit.body);
    }
  });
});

function rawText(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let out = '';
    sock.on('data', (c: Buffer) => { out += c.toString('latin1'); });
    sock.on('end', () => { sock.end(); resolve(out); });
    sock.on('error', reject);
    sock.write(text);
  });
}
