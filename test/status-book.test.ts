/** The status page's probe book and mesh assembly, in process: windows, order, bounds, what a neighbour may say. */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ProbeRecord } from '../src/log/format';
import { cellsOf, createMeshView, neighbourCells, splitPeer } from '../src/status/mesh';
import { statusPage, STATUS_CSP } from '../src/status/page';
import { createProbeBook, WINDOW } from '../src/status/probes';
import { statusDocument } from '../src/status/report';
import { createUdpBook } from '../src/status/udp';
import { defaults } from '../src/config/schema';
import { STARVED_MS } from '../src/probe/self';
import type { Identity } from '../src/status/identity';

/** This instance, as the mesh view knows itself. */
const me: Identity = { id: '0123456789abcdef', pod: 'hb-self', namespace: 'heartbeat', node: 'node-self', podIP: null, address: '127.0.0.1', port: 8080, statusPort: 8080 };

const line = (o: Partial<ProbeRecord>): ProbeRecord => ({
  time: new Date().toISOString(), target: 'http://t', peer: '127.0.0.1:1', method: 'GET', size: 1024, status: 200,
  outcome: 'ok', dns_ms: 0, connect_ms: 0.1, tls_ms: 0, ttfb_ms: 0.2, total_ms: 1, bytes: 1024, request_id: '-', wire: false, path_limit: 0, family: 'ipv4', self_ms: 0, ...o,
});

describe('status: the probe book', () => {
  it('keeps the last WINDOW probes of a row: p50/p99 nearest-rank over the ok ones, the rest counted', () => {
    const book = createProbeBook(1000, 100);
    // 100 probes: total_ms 1..100; every 10th fails
    for (let i = 1; i <= 100; i++) book.record(line({ total_ms: i, outcome: i % 10 === 0 ? 'timeout' : 'ok' }));
    const [row] = book.rows();
    assert.ok(row);
    assert.equal(row.samples, WINDOW);
    // the window holds 41..100, of which 46 ok (50, 60, ..., 100 failed)
    const ok = Array.from({ length: 60 }, (_, i) => 41 + i).filter((v) => v % 10 !== 0);
    assert.equal(row.okSamples, ok.length);
    assert.equal(row.p50Ms, ok[Math.ceil(0.5 * ok.length) - 1]);
    assert.equal(row.p99Ms, ok[Math.ceil(0.99 * ok.length) - 1]);
    assert.equal(row.outcome, 'timeout');
    assert.equal(row.failing, true);
    assert.ok(row.lastSuccessAgeSeconds !== null && row.lastSuccessAgeSeconds < 5);
  });

  it('names the phase that took longest in the last probe; transfer is what connect and ttfb leave', () => {
    const book = createProbeBook(1000, 100);
    book.record(line({ dns_ms: 0.5, connect_ms: 0.2, ttfb_ms: 0.3, total_ms: 9 }));
    const [row] = book.rows();
    assert.equal(row?.phase, 'transfer');
    assert.equal(row?.phases.transfer, 8.5);
    book.record(line({ dns_ms: 40, connect_ms: 3, ttfb_ms: 1, total_ms: 5 }));
    assert.equal(book.rows()[0]?.phase, 'dns');
    book.record(line({ connect_ms: 1, tls_ms: 12, ttfb_ms: 2, total_ms: 16 }));
    assert.deepEqual(book.rows()[0]?.phases, { dns: 0, connect: 1, tls: 12, ttfb: 2, transfer: 1 });
    assert.equal(book.rows()[0]?.phase, 'tls');
  });

  it('orders failing rows first (longest without success first), then the slowest p99', () => {
    const book = createProbeBook(1000, 100);
    book.record(line({ peer: '127.0.0.1:2', total_ms: 5 }));
    book.record(line({ peer: '127.0.0.1:3', total_ms: 50 }));
    book.record(line({ peer: '127.0.0.1:4', outcome: 'refused' })); // never ok
    book.record(line({ peer: '127.0.0.1:5' }));
    book.record(line({ peer: '127.0.0.1:5', outcome: 'reset' })); // ok a moment ago
    assert.deepEqual(book.rows().map((r) => r.peer), ['127.0.0.1:4', '127.0.0.1:5', '127.0.0.1:3', '127.0.0.1:2']);
  });

  it('is bounded: rows unfed for 10 intervals go, a full book drops the row fed longest ago; DNS rows are no address', () => {
    const book = createProbeBook(1000, 3);
    for (let p = 1; p <= 4; p++) book.record(line({ peer: `127.0.0.1:${p}` }));
    assert.deepEqual(book.rows().map((r) => r.peer).sort(), ['127.0.0.1:2', '127.0.0.1:3', '127.0.0.1:4']);
    assert.deepEqual(book.rows(Date.now() + 11_000), []);
    const dns = createProbeBook(1000, 3);
    dns.record(line({ peer: 'peers.example:8080', outcome: 'dns' }));
    dns.record(line({ peer: '127.0.0.1:9' }));
    assert.deepEqual(dns.peers(), ['127.0.0.1:9']);
  });
});

describe('status: the mesh view', () => {
  const servers: http.Server[] = [];
  afterEach(() => {
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      s.close();
    }
  });

  const serve = async (handler: http.RequestListener): Promise<{ port: number; asked: string[] }> => {
    const asked: string[] = [];
    const s = http.createServer((req, res) => { asked.push(`${req.method} ${req.url} ${req.headers.host}`); handler(req, res); });
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return { port: (s.address() as AddressInfo).port, asked };
  };
  const json = (doc: unknown): http.RequestListener => (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(doc));
  };

  it('asks each probed address once per assembly, greys what does not answer well, and never fails for it', async () => {
    const good = await serve((req, res) => json({
      schema: 'heartbeat-status/1',
      identity: { ...me, id: 'a'.repeat(16), port: (req.socket.localPort as number), statusPort: (req.socket.localPort as number) },
      cells: {
        '127.0.0.1:7': { outcome: 'timeout', p99Ms: 4 },
        '<img src=x onerror=alert(1)>': { outcome: 'ok', p99Ms: 1 },
        '127.0.0.1:8': { outcome: 'not an outcome!', p99Ms: 1 },
        '127.0.0.1:9': 'ok',
      },
    })(req, res));
    const big = await serve((_req, res) => { res.writeHead(200); res.end(Buffer.alloc(64 * 1024, 0x20)); });
    const hangs = await serve(() => undefined);
    const notJson = await serve((_req, res) => { res.writeHead(200); res.end('<html>'); });
    const other = await serve(json({ schema: 'something-else/2', cells: {} }));
    const error = await serve((_req, res) => { res.writeHead(404); res.end('not found\n'); });
    const never = await serve(json({}));
    const book = createProbeBook(1000, 100);
    for (const s of [good, big, hangs, notJson, other, error]) book.record(line({ peer: `127.0.0.1:${s.port}` }));
    // 3 s, generous on purpose: five servers in this process must answer within it while one never does; 300 ms flaked on a loaded machine
    const view = createMeshView({ book, identity: () => me, userAgent: 'test', timeoutMs: 3000, maxBytes: 16 * 1024 });
    const [mesh, again] = await Promise.all([view.get(), view.get()]);
    assert.equal(mesh, again, 'one assembly shared');
    for (const s of [good, big, hangs, notJson, other, error]) {
      assert.deepEqual(s.asked, [`GET /status.json?cells=1 127.0.0.1:${s.port}`]);
    }
    assert.deepEqual(never.asked, [], 'an address not probed is never asked');
    const row = (s: { port: number }) => mesh.rows.find((r) => r.prober === `127.0.0.1:${s.port}`);
    assert.equal(mesh.rows[0]?.self, true);
    assert.deepEqual(row(good)?.cells['127.0.0.1:7'], { outcome: 'timeout', failing: true, p99Ms: 4, forSeconds: 0 });
    assert.equal(row(good)?.identity?.id, 'a'.repeat(16));
    assert.equal(row(good)?.cells['127.0.0.1:8'], undefined, 'a malformed entry is left out');
    assert.equal(row(good)?.cells['127.0.0.1:9'], undefined);
    assert.equal(row(big)?.error, 'answer larger than 16384 bytes');
    assert.equal(row(hangs)?.error, 'no answer within 3000 ms');
    assert.equal(row(notJson)?.error, 'answer is not JSON');
    assert.equal(row(other)?.error, 'not a heartbeat status document');
    assert.equal(row(error)?.error, `answered 404 at port ${error.port} (status off there)`);
    for (const s of [big, hangs, notJson, other, error]) assert.equal(row(s)?.reachable, false);

    const doc = statusDocument({
      version: '1', config: { ...defaults(), probeTargets: ['http://127.0.0.1:1'] }, ready: () => true, requests: () => 0,
      logLinesDropped: () => 0, book, udp: createUdpBook(1000, 10), identity: () => me, startedAt: Date.now(),
    });
    doc.mesh = mesh;
    const html = statusPage(doc);
    assert.ok(!html.includes('<img'), 'a neighbour\'s text is escaped');
    assert.ok(html.includes('&lt;img src=x onerror=alert(1)&gt;'));
    assert.ok(!/<script/i.test(html));
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)?.[1] ?? '';
    const { createHash } = await import('node:crypto');
    assert.ok(STATUS_CSP.includes(`'sha256-${createHash('sha256').update(style).digest('base64')}'`), 'the style block is the one the CSP allows');
  });

  it('keeps a wire size apart from the same body size, and shows the path limit of an mtu row', () => {
    const book = createProbeBook(1000, 100);
    book.record(line({ size: 1400 }));
    book.record(line({ size: 1400, wire: true, outcome: 'mtu', status: 0, bytes: 0, path_limit: 1348 }));
    const rows = book.rows();
    assert.equal(rows.length, 2);
    assert.deepEqual(rows.map((r) => [r.wire, r.outcome, r.pathLimit, r.failing]), [[true, 'mtu', 1348, true], [false, 'ok', 0, false]]);
    const doc = statusDocument({
      version: '1', config: { ...defaults(), probeTargets: ['http://127.0.0.1:1'], probeSizes: [1400, '1400w'] },
      ready: () => true, requests: () => 0, logLinesDropped: () => 0, book, udp: createUdpBook(1000, 10), identity: () => me, startedAt: Date.now(),
    });
    const html = statusPage(doc);
    assert.match(html, /<td class="n">1400w<\/td><td class="outcome">mtu \(path limit 1348 B\)<\/td>/);
    assert.match(html, /sizes 1400 B, 1400w \(on the wire\)/);
  });

  it('marks a row whose last probe was held up by the prober itself (self_ms from STARVED_MS) as prober starved, with its family', () => {
    const book = createProbeBook(1000, 100);
    book.record(line({ peer: '127.0.0.1:1', self_ms: 0.02 }));
    book.record(line({ peer: '[::1]:1', family: 'ipv6', total_ms: 40, self_ms: STARVED_MS + 7 }));
    const rows = book.rows();
    assert.deepEqual(rows.map((r) => [r.peer, r.family, r.selfMs, r.starved]), [['[::1]:1', 'ipv6', STARVED_MS + 7, true], ['127.0.0.1:1', 'ipv4', 0.02, false]]);
    const html = statusPage(statusDocument({
      version: '1', config: { ...defaults(), probeTargets: ['http://t'] }, ready: () => true, requests: () => 0, logLinesDropped: () => 0, book, udp: createUdpBook(1000, 10), identity: () => me, startedAt: Date.now(),
    }));
    assert.match(html, /<tr data-peer="\[::1\]:1" data-outcome="ok" data-starved="true"><td>http:\/\/t<\/td><td>\[::1\]:1<\/td><td>ipv6<\/td>/);
    assert.match(html, /<td class="n self starved">12\.0 \(prober starved\)<\/td><\/tr>/);
    assert.match(html, /<tr data-peer="127\.0\.0\.1:1" data-outcome="ok"><td>http:\/\/t<\/td><td>127\.0\.0\.1:1<\/td><td>ipv4<\/td>/);
  });

  it('reads addresses as probe lines write them, and cells as the worst outcome and the largest p99', () => {
    assert.deepEqual(splitPeer('10.0.0.1:8080'), { host: '10.0.0.1', port: 8080 });
    assert.deepEqual(splitPeer('[fd00::1]:8080'), { host: 'fd00::1', port: 8080 });
    assert.equal(splitPeer('example.com:80'), undefined);
    assert.equal(splitPeer('10.0.0.1:0'), undefined);
    assert.deepEqual({ ...cellsOf([{ peer: 'a', outcome: 'ok', p99Ms: 3, failingSeconds: null }, { peer: 'a', outcome: 'ok', p99Ms: null, failingSeconds: null }]) },
      { a: { outcome: 'ok', failing: false, p99Ms: 3, forSeconds: null } });
    assert.deepEqual({ ...cellsOf([{ peer: 'a', outcome: 'ok', p99Ms: 3, failingSeconds: null }, { peer: 'a', outcome: 'timeout', p99Ms: null, failingSeconds: 4 },
      { peer: 'a', outcome: 'refused', p99Ms: null, failingSeconds: 9 }]) },
    { a: { outcome: 'refused', failing: true, p99Ms: 3, forSeconds: 9 } }, 'the longest-failing outcome');
    assert.throws(() => neighbourCells([]), /not a heartbeat status document/);
    assert.throws(() => neighbourCells({ schema: 'heartbeat-status/1', probes: [] }), /not a heartbeat status document/);
  });
});
