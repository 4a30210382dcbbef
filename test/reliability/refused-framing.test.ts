/**
 * Requests Node's parser lets through but heartbeat must refuse (docs/endpoints.md, src/http/framing.ts):
 * answered 400 with the common headers, the connection closed, one request log line, counted in the metrics.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { REQUEST_COLUMNS } from '../../src/log/format';
import { exchange, type Exchange } from '../helpers/raw-http';
import { kill, request, startServer, waitFor, type Running } from '../helpers/server';

const HB = '/heartbeat';

function assertRefused(ex: Exchange, what: string): void {
  const got = ex.responses.map((r) => r.status);
  assert.deepEqual(got, [400], `${what}: statuses ${got.join(', ')}; received ${JSON.stringify(ex.raw.toString('latin1').slice(0, 300))}`);
  const r = ex.responses[0]!;
  assert.equal(r.headers['cache-control'], 'no-cache', what);
  assert.equal(r.headers['x-content-type-options'], 'nosniff', what);
  assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8', what);
  assert.equal(r.headers.connection, 'close', what);
  assert.notEqual(ex.end, 'timeout', `${what}: the server must close the connection`);
}

/** The request log lines (tsv) as records keyed by column. */
function requestLines(hb: Running): Array<Record<string, string>> {
  return hb.lines.filter((l) => l.split('\t')[1] === 'request')
    .map((l) => Object.fromEntries(REQUEST_COLUMNS.map((c, i) => [c, l.split('\t')[i] ?? ''])));
}

async function rejectedCount(hb: Running): Promise<number> {
  const text = (await request(hb.port, 'GET', '/metrics')).body.toString();
  let n = 0;
  for (const m of text.matchAll(/^heartbeat_http_requests_total\{[^}]*route="heartbeat"[^}]*status="400"[^}]*\} (\d+)$/gm)) n += Number(m[1]);
  return n;
}

describe('requests the parser lets through but heartbeat refuses', function () {
  this.timeout(30_000);
  let hb: Running | undefined;
  afterEach(() => kill(hb));

  it('Transfer-Encoding: gzip on a GET, a GET pipelined behind it: 400 and close, not a hang', async () => {
    hb = await startServer(['--log', '--metrics']);
    const bytes = Buffer.from(
      `GET ${HB}/17 HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\n\r\n` +
      `GET ${HB}/18 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, 'latin1');
    assertRefused(await exchange(hb.port, bytes, { ms: 3000 }), 'TE gzip');
    // On a HEAD too; `gzip, chunked` is chunked and served.
    assertRefused(await exchange(hb.port, Buffer.from(`HEAD ${HB}/17 HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\n\r\n`), { ms: 3000, heads: [true] }), 'TE gzip on HEAD');
    const ok = await exchange(hb.port, Buffer.from(`GET ${HB}/17 HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n0\r\n\r\n`), { ms: 3000 });
    assert.deepEqual(ok.responses.map((r) => r.status), [200]);
    await waitFor(() => requestLines(hb!).length >= 3, 5000, 'three request lines');
    const lines = requestLines(hb);
    assert.deepEqual(lines.map((l) => [l.status, l.method, l.path]),
      [['400', 'GET', `${HB}/17`], ['400', 'HEAD', `${HB}/17`], ['200', 'GET', `${HB}/17`]]);
    assert.equal(await rejectedCount(hb), 2);
  });

  it('HTTP/1.1 without Host: a 400 with the common headers, logged and counted', async () => {
    hb = await startServer(['--log', '--metrics']);
    assertRefused(await exchange(hb.port, Buffer.from(`GET ${HB}/17 HTTP/1.1\r\n\r\n`), { ms: 3000 }), 'no Host');
    // HTTP/1.0 needs none.
    const old = await exchange(hb.port, Buffer.from(`GET ${HB}/17 HTTP/1.0\r\n\r\n`), { ms: 3000 });
    assert.deepEqual(old.responses.map((r) => r.status), [200]);
    await waitFor(() => requestLines(hb!).length >= 2, 5000, 'two request lines');
    const lines = requestLines(hb);
    assert.deepEqual(lines.map((l) => [l.status, l.method, l.path, l.proto]),
      [['400', 'GET', `${HB}/17`, 'HTTP/1.1'], ['200', 'GET', `${HB}/17`, 'HTTP/1.0']]);
    assert.equal(await rejectedCount(hb), 1);
  });

  it('CONNECT: 405 with Allow and the common headers, closed, logged', async () => {
    hb = await startServer(['--log']);
    const ex = await exchange(hb.port, Buffer.from('CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'), { ms: 3000 });
    assert.deepEqual(ex.responses.map((r) => r.status), [405]);
    const r = ex.responses[0]!;
    assert.equal(r.headers.allow, 'GET, HEAD, POST');
    assert.equal(r.headers['cache-control'], 'no-cache');
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(r.headers.connection, 'close');
    assert.equal(Number(r.headers['content-length']), r.bodyBytes);
    assert.ok(r.bodyBytes > 0, 'a short text body');
    await waitFor(() => requestLines(hb!).length >= 1, 5000, 'the request line');
    const [line] = requestLines(hb);
    assert.deepEqual([line!.status, line!.method, line!.path, line!.bytes_out], ['405', 'CONNECT', '127.0.0.1:443', String(r.bodyBytes)]);
  });

  it('a rejected request logs its real duration: a head cut by --headers-timeout 1000 took at least 1000 ms', async () => {
    hb = await startServer(['--log', '--headers-timeout', '1000', '--request-timeout', '5000']);
    // A head begun and never finished; and a connection that sends nothing.
    const [partial, silent] = await Promise.all([
      exchange(hb.port, Buffer.from(`GET ${HB}/17 HTTP/1.1\r\nHost: 127.0.0.1\r\n`), { ms: 8000 }),
      exchange(hb.port, Buffer.alloc(0), { ms: 8000 }),
    ]);
    assert.deepEqual([partial.responses.map((r) => r.status), silent.responses.map((r) => r.status)], [[408], [408]]);
    await waitFor(() => requestLines(hb!).length >= 2, 5000, 'two request lines');
    const lines = requestLines(hb).sort((a, b) => String(a.method).localeCompare(String(b.method)));
    // The parser's timeout carries no bytes: where the start line was is not certain, `-` for both.
    assert.deepEqual(lines.map((l) => [l.status, l.method, l.path]), [['408', '-', '-'], ['408', '-', '-']]);
    // Each is its connection's first request, timed from the accept; Node answers only once the timeout
    // has passed: the logged duration cannot be less.
    for (const l of lines) assert.ok(Number(l.duration_ms) >= 1000, `duration_ms ${l.duration_ms} of ${JSON.stringify(l)}`);
  });

  it('a rejected request never logs a header as its method or path (the issue\'s two-segment reproduction)', async () => {
    hb = await startServer(['--log']);
    for (const header of ['Cookie: session=SECRET\x01', 'Authorization: Bearer SECRET\x01']) {
      const sock = net.connect(hb.port, '127.0.0.1');
      let got = '';
      sock.on('data', (c: Buffer) => { got += c.toString('latin1'); });
      const closed = new Promise<void>((resolve) => sock.on('close', () => resolve()));
      sock.on('error', () => undefined);
      await new Promise<void>((resolve) => sock.on('connect', () => resolve()));
      sock.write(`GET ${HB}/17 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET ${HB}/18 HTTP/1.1\r\n`);
      await waitFor(() => got.includes('0123456789ABCDEF0'), 5000, 'the first answer');
      sock.write(Buffer.from(`${header}\r\n\r\n`, 'latin1'));
      await closed;
      assert.match(got, /HTTP\/1\.1 400 /, header);
    }
    await waitFor(() => requestLines(hb!).length >= 4, 5000, 'four request lines');
    const lines = requestLines(hb);
    assert.deepEqual(lines.map((l) => [l.status, l.method, l.path]),
      [['200', 'GET', `${HB}/17`], ['400', '-', '-'], ['200', 'GET', `${HB}/17`], ['400', '-', '-']]);
    assert.ok(!hb.lines.some((l) => /SECRET|Cookie|Bearer/.test(l)), hb.lines.join('\n'));
  });

  it('a rejected request never logs a forged start line: a header value ending in one, cut anywhere across reads (sweep)', async () => {
    // The reproduction: GET /heartbeat/17, Host, an X-Pad header whose value ends in
    // `POST /forged HTTP/1.1`, in one write over 8 KiB placed so that a cut keeping the last 8 KiB of that
    // read falls on its P (and a few bytes around it), then ~13 KB more header: 431. Swept over first
    // write sizes and offsets; the second write comes after a pause (its own read) or at once.
    hb = await startServer(['--log']);
    const forged = 'POST /forged HTTP/1.1';
    const start = `GET ${HB}/17 HTTP/1.1\r\nHost: x\r\nX-Pad: `;
    const cases: { first: Buffer; rest: Buffer; pause: boolean }[] = [];
    for (const size of [8300, 8400, 9000, 12_000, 16_000]) {
      for (const shift of [-2, -1, 0, 1, 2]) {
        // The last 8192 bytes of the first write begin `shift` bytes from the P of the forged line.
        const pPos = size - 8192 + shift;
        const pad = 'a'.repeat(pPos - start.length);
        const line = `${start}${pad}${forged}\r\n`;
        const first = Buffer.from((line + `X-More: ${'b'.repeat(size)}`).slice(0, size), 'latin1');
        assert.equal(first.indexOf('POST /forged'), pPos);
        const rest = Buffer.from(`${'c'.repeat(13_000)}\r\n\r\n`, 'latin1');
        for (const pause of [true, false]) cases.push({ first, rest, pause });
      }
    }
    for (const { first, rest, pause } of cases) {
      const sock = net.connect(hb.port, '127.0.0.1');
      let got = '';
      sock.on('data', (c: Buffer) => { got += c.toString('latin1'); });
      const closed = new Promise<void>((resolve) => sock.on('close', () => resolve()));
      sock.on('error', () => undefined);
      await new Promise<void>((resolve) => sock.on('connect', () => resolve()));
      sock.write(first);
      if (pause) await new Promise((r) => setTimeout(r, 30));
      sock.write(rest);
      await closed;
      assert.match(got, /^HTTP\/1\.1 431 /, `${first.length} bytes first, pause ${pause}`);
    }
    await waitFor(() => requestLines(hb!).length >= cases.length, 10_000, 'one line per case');
    const lines = requestLines(hb);
    assert.equal(lines.length, cases.length);
    for (const l of lines) {
      assert.equal(l.status, '431');
      // The start line where it is certain (everything came in one read), `-` otherwise; never the header's tail.
      assert.ok([['GET', `${HB}/17`], ['-', '-']].some(([m, p]) => l.method === m && l.path === p), JSON.stringify(l));
    }
    assert.ok(!hb.lines.some((l) => l.includes('/forged')), 'no line names /forged');
  });
});
