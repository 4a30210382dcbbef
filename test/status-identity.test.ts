/**
 * Who answered (src/status/identity.ts) and what the mesh view does with it, in process: a neighbour's
 * status is found where the neighbour says (the heartbeat port's pointer), an answer from anyone but
 * the neighbour asked (or from this instance) greys the row with the reason, and the banner covers
 * every cell of the page.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { defaults } from '../src/config/schema';
import type { ProbeRecord } from '../src/log/format';
import { identityMismatch, IDENTITY_ENV, ownAddress, parseIdentity, podMetadata, type Identity } from '../src/status/identity';
import { createMeshView, STATUS_PORT_HEADER } from '../src/status/mesh';
import { statusPage, verdictOf } from '../src/status/page';
import { createProbeBook } from '../src/status/probes';
import { statusDocument } from '../src/status/report';
import { createUdpBook } from '../src/status/udp';

const me: Identity = { id: '0123456789abcdef', pod: 'hb-a', namespace: 'heartbeat', node: 'node-a', podIP: null, address: '127.0.0.1', port: 8091, statusPort: 9191 };
const other = (o: Partial<Identity>): Identity => ({ ...me, id: 'fedcba9876543210', pod: 'hb-b', node: 'node-b', port: 8092, statusPort: 9192, ...o });

const line = (o: Partial<ProbeRecord>): ProbeRecord => ({
  time: new Date().toISOString(), target: 'http://t', peer: '127.0.0.1:1', method: 'GET', size: 1, status: 200,
  outcome: 'ok', dns_ms: 0, connect_ms: 0.1, tls_ms: 0, ttfb_ms: 0.2, total_ms: 1, bytes: 1, request_id: '-', wire: false, path_limit: 0, ...o,
});

describe('status: who answered', () => {
  it('reads the pod\'s identity from the downward API variables only, and nothing that is not a plain name', () => {
    assert.deepEqual(podMetadata({ [IDENTITY_ENV.pod]: 'heartbeat-7f9c', [IDENTITY_ENV.namespace]: 'heartbeat', [IDENTITY_ENV.node]: 'node-1', [IDENTITY_ENV.podIP]: '10.0.0.7', HOSTNAME: 'x' }),
      { pod: 'heartbeat-7f9c', namespace: 'heartbeat', node: 'node-1', podIP: '10.0.0.7' });
    assert.deepEqual(podMetadata({}), { pod: null, namespace: null, node: null, podIP: null });
    assert.equal(podMetadata({ [IDENTITY_ENV.pod]: '<b>x</b>' }).pod, null);
    assert.equal(podMetadata({ [IDENTITY_ENV.node]: 'n'.repeat(300) }).node, null);
  });

  it('parses a neighbour\'s identity field by field and refuses a malformed one', () => {
    assert.deepEqual(parseIdentity(JSON.parse(JSON.stringify(me))), me);
    assert.equal(parseIdentity(undefined), undefined);
    assert.equal(parseIdentity({ ...me, id: 'short' }), undefined);
    assert.equal(parseIdentity({ ...me, port: 70000 }), undefined);
    assert.equal(parseIdentity({ ...me, pod: 7 }), undefined);
  });

  it('accepts only the neighbour asked: not this instance, the port asked, the address asked', () => {
    const asked = { host: '127.0.0.1', port: 8092 };
    assert.equal(identityMismatch(asked, other({}), me), undefined);
    assert.equal(identityMismatch(asked, { ...me }, me), 'answered as this heartbeat itself');
    assert.match(identityMismatch(asked, other({ port: 8093, pod: 'hb-c', node: 'node-c' }), me) ?? '', /^answered as hb-c on node-c \(127\.0\.0\.1:8093\), not the neighbour asked$/);
    assert.match(identityMismatch(asked, other({ address: '127.0.0.9' }), me) ?? '', /not the neighbour asked/);
    // bound to every address: the port tells; with a pod IP, that tells
    assert.equal(identityMismatch(asked, other({ address: '::' }), me), undefined);
    assert.equal(identityMismatch({ host: '10.0.0.2', port: 8080 }, other({ address: '::', port: 8080, podIP: '10.0.0.2' }), me), undefined);
    assert.match(identityMismatch({ host: '10.0.0.2', port: 8080 }, other({ address: '::', port: 8080, podIP: '10.0.0.3' }), me) ?? '', /not the neighbour asked/);
    assert.equal(identityMismatch(asked, undefined, me), 'answered without an identity (not a heartbeat, or an older one)');
    assert.equal(ownAddress(me), '127.0.0.1:8091');
    assert.equal(ownAddress({ ...me, address: '::' }), null);
    assert.equal(ownAddress({ ...me, address: '::', podIP: 'fd00::7' }), '[fd00::7]:8091');
  });
});

describe('status: the mesh view finds and checks each neighbour', () => {
  const servers: http.Server[] = [];
  after(() => { for (const s of servers) s.close(); });
  const serve = async (handler: (req: http.IncomingMessage, res: http.ServerResponse, port: number) => void): Promise<{ port: number; asked: string[] }> => {
    const asked: string[] = [];
    const s = http.createServer((req, res) => { asked.push(`${req.url}`); handler(req, res, (s.address() as AddressInfo).port); });
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return { port: (s.address() as AddressInfo).port, asked };
  };
  const answer = (res: http.ServerResponse, identity: unknown, cells: unknown = {}): void => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ schema: 'heartbeat-status/1', time: new Date().toISOString(), identity, cells }));
  };

  it('follows the heartbeat port\'s pointer to the port the neighbour names, remembers it, and refuses a wrong or own identity', async () => {
    // b: status on a port of its own, pointed at from its heartbeat port
    let bHeartbeat = 0;
    const bStatus = await serve((_req, res, port) => answer(res, other({ port: bHeartbeat, statusPort: port }), { '127.0.0.1:1': { outcome: 'refused', p99Ms: null, forSeconds: 12 } }));
    const b = await serve((_req, res) => { res.writeHead(404, { [STATUS_PORT_HEADER]: String(bStatus.port) }); res.end('not found\n'); });
    bHeartbeat = b.port;
    // c: answers with someone else's identity (a shared address, a proxy in front of another heartbeat)
    const c = await serve((_req, res) => answer(res, other({ port: b.port })));
    // d: answers as this very instance (its own listener at a shared address)
    const d = await serve((_req, res) => answer(res, me));
    // e: a pointer to a port that points on again: followed once, never further
    const loop = await serve((_req, res) => { res.writeHead(404, { [STATUS_PORT_HEADER]: String(b.port) }); res.end(); });
    const e = await serve((_req, res) => { res.writeHead(404, { [STATUS_PORT_HEADER]: String(loop.port) }); res.end(); });
    const book = createProbeBook(1000, 100);
    for (const s of [b, c, d, e]) book.record(line({ peer: `127.0.0.1:${s.port}` }));
    const view = createMeshView({ book, identity: () => me, userAgent: 'test', timeoutMs: 3000 }); // generous: a loaded machine (as status-book's)
    const mesh = await view.get();
    const row = (s: { port: number }) => mesh.rows.find((r) => r.prober === `127.0.0.1:${s.port}`);
    assert.equal(row(b)?.reachable, true, row(b)?.error);
    assert.equal(row(b)?.identity?.pod, 'hb-b');
    assert.deepEqual(row(b)?.cells['127.0.0.1:1'], { outcome: 'refused', failing: true, p99Ms: null, forSeconds: 12 });
    assert.deepEqual(b.asked, ['/status.json?cells=1']);
    assert.deepEqual(bStatus.asked, ['/status.json?cells=1']);
    assert.equal(row(c)?.reachable, false);
    assert.deepEqual(row(c)?.cells, {}, 'nothing of a wrong answer is shown');
    assert.equal(row(c)?.error, `answered as hb-b on node-b (127.0.0.1:${b.port}), not the neighbour asked`);
    assert.equal(row(d)?.error, 'answered as this heartbeat itself');
    assert.equal(row(e)?.error, `pointed from port ${loop.port} elsewhere again`);
    assert.deepEqual([loop.asked.length, b.asked.length], [1, 1], 'one pointer followed, no more');
    assert.equal(mesh.self, '127.0.0.1:8091');

    // the next assembly asks b's status port directly
    await new Promise((r) => setTimeout(r, 5100));
    await view.get();
    assert.deepEqual(b.asked, ['/status.json?cells=1']);
    assert.deepEqual(bStatus.asked, ['/status.json?cells=1', '/status.json?cells=1']);

    // the banner names every failing pair of the page, worst first, and every unreadable neighbour
    const doc = statusDocument({
      version: '1', config: { ...defaults(), probeTargets: ['http://127.0.0.1:1'] }, ready: () => true, requests: () => 0,
      logLinesDropped: () => 0, book, udp: createUdpBook(1000, 10), identity: () => me, startedAt: Date.now(),
    });
    doc.mesh = mesh;
    const v = verdictOf(doc);
    assert.equal(v.ok, false);
    assert.deepEqual(v.pairs.map((p) => [p.prober, p.peer, p.outcome, p.forSeconds]), [[`127.0.0.1:${b.port}`, '127.0.0.1:1', 'refused', 12]]);
    assert.deepEqual(v.unreadable.map((u) => u.prober).sort(), [`127.0.0.1:${c.port}`, `127.0.0.1:${d.port}`, `127.0.0.1:${e.port}`].sort());
    const html = statusPage(doc);
    assert.match(html, new RegExp(`1 failing pair: 127\\.0\\.0\\.1:${b.port} <small>node-b</small> → 127\\.0\\.0\\.1:1 refused for 12 s`));
    assert.match(html, /3 neighbours unreadable/);
    assert.match(html, /<title>heartbeat hb-a on node-a: status<\/title>/);
    assert.match(html, /<meta http-equiv="refresh" content="10">/);
  });

  it('says all clear only when every cell of the page is ok', () => {
    const book = createProbeBook(1000, 100);
    book.record(line({ peer: '127.0.0.1:8092' }));
    const doc = statusDocument({
      version: '1', config: { ...defaults(), probeTargets: ['http://127.0.0.1:8092'] }, ready: () => true, requests: () => 0,
      logLinesDropped: () => 0, book, udp: createUdpBook(1000, 10), identity: () => me, startedAt: Date.now(),
    });
    const at = new Date().toISOString();
    doc.mesh = {
      time: at, peers: ['127.0.0.1:8091', '127.0.0.1:8092', '127.0.0.1:8093'], omitted: 0, self: '127.0.0.1:8091',
      rows: [
        { prober: 'this heartbeat', self: true, reachable: true, at, cells: { '127.0.0.1:8092': { outcome: 'ok', failing: false, p99Ms: 1, forSeconds: null } } },
        { prober: '127.0.0.1:8092', self: false, reachable: true, at, identity: other({}), cells: {
          '127.0.0.1:8091': { outcome: 'ok', failing: false, p99Ms: 1, forSeconds: null },
          '127.0.0.1:8093': { outcome: 'ok', failing: false, p99Ms: 1, forSeconds: null },
        } },
      ],
    };
    assert.equal(verdictOf(doc).ok, true);
    assert.match(statusPage(doc), /All clear: every cell on this page is ok/);
    // the self cells are marked so, not empty
    assert.match(statusPage(doc), /<tr data-prober="127\.0\.0\.1:8092"><th>[^]*?<\/th><td class="k">1\.00 ms<\/td><td class="self">self<\/td>/);
    (doc.mesh.rows[1] as { cells: Record<string, { outcome: string; failing: boolean; p99Ms: number | null; forSeconds: number | null }> })
      .cells['127.0.0.1:8093'] = { outcome: 'refused', failing: true, p99Ms: null, forSeconds: 3 };
    assert.equal(verdictOf(doc).ok, false);
    assert.match(statusPage(doc), /1 failing pair: 127\.0\.0\.1:8092 <small>node-b<\/small> → 127\.0\.0\.1:8093 refused for 3 s/);
  });
});

describe('docs/status.md', () => {
  it('documents every key of /status.json, ?mesh=1 and ?cells=1', async () => {
    const { readFileSync } = await import('node:fs');
    const path = await import('node:path');
    const { ROOT } = await import('./helpers/server');
    const { cellsDocument } = await import('../src/status/mesh');
    const docs = readFileSync(path.join(ROOT, 'docs', 'status.md'), 'utf8');
    const section = docs.slice(docs.indexOf('### `/status.json`'), docs.indexOf('## The Grafana dashboard'));
    const book = createProbeBook(1000, 100);
    book.record(line({ peer: '127.0.0.1:8092', outcome: 'refused' }));
    const doc = statusDocument({
      version: '1', config: { ...defaults(), probeTargets: ['http://127.0.0.1:8092'] }, ready: () => true, requests: () => 0,
      logLinesDropped: () => 0, book, udp: createUdpBook(1000, 10), identity: () => me, startedAt: Date.now(),
    });
    const at = new Date().toISOString();
    doc.mesh = {
      time: at, peers: ['127.0.0.1:8092'], omitted: 0, self: '127.0.0.1:8091',
      rows: [{ prober: '127.0.0.1:8092', self: false, reachable: false, error: 'refused', identity: other({}), at, cells: { '127.0.0.1:8091': { outcome: 'ok', failing: false, p99Ms: 1, forSeconds: null } } }],
    };
    const keys = new Set<string>();
    const walk = (v: unknown, underCells = false): void => {
      if (Array.isArray(v)) return v.forEach((x) => walk(x));
      if (!v || typeof v !== 'object') return;
      for (const [k, x] of Object.entries(v)) {
        if (!underCells) keys.add(k); // the keys of `cells` are peer addresses
        walk(x, k === 'cells' && !underCells);
      }
    };
    walk(doc);
    walk(cellsDocument(book, me));
    for (const k of keys) assert.ok(section.includes(`\`${k}\``), `docs/status.md does not document the key ${k}`);
    assert.ok(keys.has('time') && keys.has('omitted') && keys.has('identity') && keys.has('forSeconds'));
  });
});
