/**
 * The status page on the real compiled heartbeat: where it is served (--status, beside /metrics),
 * what it says and never says, and a mesh of three on loopback: /status.json agrees with the probe
 * lines and the metrics of the same rounds; a stopped neighbour is failing, first, and greys its
 * row of the mesh.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import os from 'node:os';
import { startMesh, type Mesh } from './helpers/mesh';
import { probeLines, scrape, type ProbeLine } from './helpers/probe';
import { freePort, kill, request, startServer, until, type Running } from './helpers/server';
import type { StatusDocument } from '../src/status/report';
import { WINDOW } from '../src/status/probes';

const getJson = async (port: number, path = '/status.json'): Promise<StatusDocument> => {
  const r = await request(port, 'GET', path);
  assert.equal(r.status, 200, r.body.toString());
  assert.match(String(r.headers['content-type']), /^application\/json/);
  return JSON.parse(r.body.toString()) as StatusDocument;
};

describe('the status page (--status)', () => {
  let hb: Running | undefined;
  afterEach(() => kill(hb));

  it('is off by default: /status and /status.json are 404', async () => {
    hb = await startServer(['--host', '127.0.0.1']);
    for (const p of ['/status', '/status.json']) assert.equal((await request(hb.port, 'GET', p)).status, 404);
  });

  it('on the heartbeat port: this instance, GET/HEAD only, a strict CSP, no script, nothing from the environment', async () => {
    const secret = 'sekrit-value-6f1c';
    hb = await startServer(['--host', '127.0.0.1', '--status', '--uri', '/hb', '--max', '65536'], {
      env: { HEARTBEAT_CANARY: secret, API_TOKEN: secret, AWS_SECRET_ACCESS_KEY: secret },
    });
    await request(hb.port, 'GET', '/hb/17');
    const doc = await getJson(hb.port);
    assert.equal(doc.schema, 'heartbeat-status/1');
    assert.equal(doc.instance.version, (await request(hb.port, 'GET', '/version')).body.toString().trim());
    assert.equal(doc.instance.ready, true);
    assert.ok(doc.instance.requests >= 2, `requests ${doc.instance.requests}`);
    assert.equal(doc.instance.logLinesDropped, 0);
    assert.deepEqual([doc.instance.settings.uri, doc.instance.settings.max, doc.instance.settings.probing], ['/hb', 65536, false]);
    assert.deepEqual(doc.probes, []);
    assert.equal(doc.mesh, undefined);

    const page = await request(hb.port, 'GET', '/status');
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /^text\/html; charset=utf-8/);
    const csp = String(page.headers['content-security-policy']);
    assert.match(csp, /default-src 'none'/);
    assert.ok(!/unsafe|https?:|\*/.test(csp), csp);
    const html = page.body.toString();
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)?.[1] ?? '';
    assert.ok(csp.includes(`'sha256-${createHash('sha256').update(style).digest('base64')}'`));
    assert.ok(!/<script|<link|<img|<iframe|src=/i.test(html));
    assert.match(html, /Not probing/);
    for (const body of [html, JSON.stringify(doc)]) {
      assert.ok(!body.includes(secret), 'no environment variable');
      assert.ok(!body.includes(process.cwd()), 'no path');
      if (os.hostname().length >= 6) assert.ok(!body.includes(os.hostname()), 'no host name');
    }
    const head = await request(hb.port, 'HEAD', '/status.json');
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    const post = await request(hb.port, 'POST', '/status', 'x');
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
  });

  it('with --metrics-port: on the metrics port only (metrics on or not), and that port is no warning then', async () => {
    const metricsPort = await freePort();
    hb = await startServer(['--host', '127.0.0.1', '--status', '--metrics-port', String(metricsPort)]);
    assert.equal((await request(hb.port, 'GET', '/status.json')).status, 404);
    assert.equal((await getJson(metricsPort)).schema, 'heartbeat-status/1');
    assert.equal((await request(metricsPort, 'GET', '/status')).status, 200);
    assert.equal((await request(metricsPort, 'GET', '/metrics')).status, 404, 'metrics are off');
    assert.ok(!hb.stderr().includes('no effect'), hb.stderr());
  });

  it('names who answers (the downward API\'s pod metadata, the listener, an instance id); the heartbeat port points to the status port', async () => {
    const metricsPort = await freePort();
    hb = await startServer(['--host', '127.0.0.1', '--status', '--metrics-port', String(metricsPort), '--log-format', 'json'], {
      env: { POD_NAME: 'heartbeat-x7', POD_NAMESPACE: 'edge', NODE_NAME: 'node-3', POD_IP: '127.0.0.1' },
    });
    const doc = await getJson(metricsPort);
    assert.deepEqual({ ...doc.identity, id: undefined }, {
      id: undefined, pod: 'heartbeat-x7', namespace: 'edge', node: 'node-3', podIP: '127.0.0.1', address: '127.0.0.1', port: hb.port, statusPort: metricsPort,
    });
    assert.match(doc.identity.id, /^[0-9a-f]{16}$/);
    const cells = JSON.parse((await request(metricsPort, 'GET', '/status.json?cells=1')).body.toString()) as { identity: unknown; cells: unknown };
    assert.deepEqual(cells.identity, doc.identity, 'the neighbours\' view names who answered too');
    const html = (await request(metricsPort, 'GET', '/status')).body.toString();
    assert.match(html, /<title>heartbeat heartbeat-x7 on node-3: status<\/title>/);
    assert.match(html, /<h1>heartbeat heartbeat-x7 on node-3 <small>/);
    for (const p of ['/status', '/status.json']) {
      const pointed = await request(hb.port, 'GET', `${p}?cells=1`);
      assert.equal(pointed.status, 404);
      assert.equal(pointed.headers['heartbeat-status-port'], String(metricsPort));
      assert.equal(pointed.body.toString(), `not found: the status page is served on port ${metricsPort} (the metrics port)\n`);
    }
    // its listening line says what the port serves: the page, not /metrics
    const listening = await until('the metrics listener\'s line', 5000, () => Promise.resolve(hb?.lines
      .map((l) => JSON.parse(l) as { message: string; details: Record<string, unknown> })
      .find((l) => l.message === 'listening' && l.details.listener === 'metrics')));
    assert.deepEqual(listening.details, { listener: 'metrics', address: '127.0.0.1', port: metricsPort, status: '/status' });
    // another process never shares the id
    const again = await startServer(['--host', '127.0.0.1', '--status']);
    try {
      assert.notEqual((await getJson(again.port)).identity.id, doc.identity.id);
    } finally {
      kill(again);
    }
  });
});

describe('a shared address with per-instance metrics ports (each neighbour says where its status is)', function () {
  this.timeout(120_000);
  let mesh: Mesh | undefined;
  after(() => mesh?.stopAll());

  it('shows each neighbour\'s own row, never a copy of this one, and the stopped member grey', async () => {
    mesh = await startMesh({ size: 3, intervalMs: 1000, metricsPort: true });
    const m = mesh;
    const [n0, , n2] = m.nodes as [Running, Running, Running];
    const statusPort = m.metricsPorts[0] as number;
    await until('both neighbours read', 30_000, async () => {
      const d = await getJson(statusPort, '/status.json?mesh=1');
      return d.mesh?.rows.filter((r) => !r.self && r.reachable).length === 2 ? d : undefined;
    });
    assert.equal(await n2.stop(), 0);
    const stoppedAt = Date.now();
    const doc = await until('the stopped member refused', 30_000, async () => {
      const d = await getJson(statusPort, '/status.json?mesh=1');
      return Date.parse(d.mesh?.time ?? '') > stoppedAt && d.mesh?.rows.find((r) => r.prober === m.peers[2])?.reachable === false &&
        d.mesh.rows.find((r) => r.prober === m.peers[1])?.cells[m.peers[2] as string]?.outcome === 'refused' ? d : undefined;
    });
    const rows = doc.mesh?.rows ?? [];
    const second = rows.find((r) => r.prober === m.peers[1]);
    assert.equal(second?.identity?.port, m.nodes[1]?.port, 'the second answered itself');
    assert.equal(second?.identity?.statusPort, m.metricsPorts[1]);
    assert.notEqual(second?.identity?.id, doc.identity.id);
    assert.equal(second?.cells[m.peers[1] as string], undefined, 'no self-probe: it is not a copy of this row');
    assert.equal(second?.cells[m.peers[0] as string]?.outcome, 'ok', 'it probes this one');
    const stopped = rows.find((r) => r.prober === m.peers[2]);
    assert.deepEqual([stopped?.reachable, stopped?.error], [false, 'refused']);
    assert.deepEqual(stopped?.cells, {});
    assert.ok(n0.port > 0);
  });
});

describe('the status page of a mesh of three on loopback', function () {
  this.timeout(120_000);
  let mesh: Mesh | undefined;
  after(() => mesh?.stopAll());

  /** This round's lines, /status.json and /metrics, read between two rounds (no probe line written meanwhile). */
  const quiet = async (n: Running, port: number, perRound: number, minRounds: number) => until('a quiet moment between rounds', 60_000, async () => {
    const before = probeLines(n);
    if (before.length < perRound * minRounds || before.length % perRound !== 0) return undefined;
    const doc = await getJson(port);
    const metrics = scrape((await request(port, 'GET', '/metrics')).body.toString());
    const lines = probeLines(n);
    return lines.length === before.length ? { lines, doc, metrics } : undefined;
  });

  it('/status.json agrees with the probe lines and the metrics of the same rounds', async () => {
    mesh = await startMesh({ size: 3, intervalMs: 1500, flags: ['--metrics', '--log-format', 'json'] });
    const [n0] = mesh.nodes as [Running];
    // 2 neighbours × 2 sizes a round
    const { lines, doc, metrics } = await quiet(n0, n0.port, 4, 3);
    assert.equal(doc.probes.length, 4);
    const key = (l: { target: string; peer: string; method: string; size: string | number }): string => `${l.target} ${l.peer} ${l.method} ${l.size}`;
    for (const row of doc.probes) {
      const mine: ProbeLine[] = lines.filter((l) => key(l) === key(row));
      const last = mine[mine.length - 1] as ProbeLine;
      assert.deepEqual([row.at, row.outcome, row.status, row.totalMs], [last.time, last.outcome, Number(last.status), Number(last.total_ms)]);
      const window = mine.slice(-WINDOW);
      const ok = window.filter((l) => l.outcome === 'ok').map((l) => Number(l.total_ms)).sort((a, b) => a - b);
      assert.equal(row.samples, window.length);
      assert.equal(row.okSamples, ok.length);
      assert.equal(row.p50Ms, ok[Math.ceil(0.5 * ok.length) - 1]);
      assert.equal(row.p99Ms, ok[Math.ceil(0.99 * ok.length) - 1]);
      const labels = `target="${row.target}",peer="${row.peer}",family="${row.family}",method="${row.method}",size="${row.size}"`;
      assert.equal(metrics.get(`heartbeat_probes_total{${labels},outcome="ok"}`), mine.filter((l) => l.outcome === 'ok').length);
      assert.equal(metrics.get(`heartbeat_probe_duration_seconds_count{${labels}}`), ok.length);
      // the phase histogram: every ok probe of the target, method and size (one peer of it here) observed
      const phase = (p: string, what: string): number | undefined =>
        metrics.get(`heartbeat_probe_phase_seconds_${what}{target="${row.target}",family="${row.family}",method="${row.method}",size="${row.size}",phase="${p}"}`);
      const okLines = mine.filter((l) => l.outcome === 'ok');
      assert.equal(phase('ttfb', 'count'), okLines.length);
      assert.equal(phase('connect', 'count'), okLines.length, 'probeConnection new: every ok probe connected');
      assert.equal(phase('tls', 'count'), undefined, 'http:// targets: no tls phase');
      const ttfbSum = okLines.reduce((a, l) => a + Number(l.ttfb_ms), 0) / 1000;
      assert.ok(Math.abs((phase('ttfb', 'sum') ?? 0) - ttfbSum) < 0.001 * okLines.length, `ttfb sum ${phase('ttfb', 'sum')} vs ${ttfbSum}`);
      const lastOk = [...mine].reverse().find((l) => l.outcome === 'ok');
      assert.equal(row.lastSuccess, lastOk?.time);
      const ts = metrics.get(`heartbeat_probe_last_success_timestamp_seconds{target="${row.target}",peer="${row.peer}",family="${row.family}"}`) as number;
      assert.ok(Math.abs(ts * 1000 - Date.parse(String(row.lastSuccess))) < 1000, `${ts} vs ${row.lastSuccess}`);
    }
  });

  it('a stopped neighbour: failing (refused) and first; the mesh greys its row and the others still show theirs', async () => {
    const m = mesh as Mesh;
    const [n0, , n2] = m.nodes as [Running, Running, Running];
    assert.equal(await n2.stop(), 0);
    const stoppedAt = Date.now();
    const stopped = m.peers[2] as string;
    const doc = await until('the stopped peer failing, here and on the other neighbour', 60_000, async () => {
      const d = await getJson(n0.port, '/status.json?mesh=1');
      const seen = d.mesh?.rows.find((r) => r.prober === m.peers[1])?.cells[stopped]?.outcome;
      // a mesh assembled after the stop (one assembly serves 5 s)
      const fresh = Date.parse(d.mesh?.time ?? '') > stoppedAt;
      return fresh && d.probes.filter((r) => r.peer === stopped).every((r) => r.outcome === 'refused') && seen === 'refused' ? d : undefined;
    });
    assert.deepEqual(doc.probes.slice(0, 2).map((r) => [r.peer, r.outcome, r.failing]), [[stopped, 'refused', true], [stopped, 'refused', true]]);
    assert.ok(doc.probes.slice(2).every((r) => r.peer === m.peers[1] && r.outcome === 'ok'));
    const rows = doc.mesh?.rows ?? [];
    assert.equal(rows[0]?.prober, 'this heartbeat');
    // neighbours in address order, as the columns
    assert.deepEqual(rows.slice(1).map((r) => [r.prober, r.reachable]),
      ([[m.peers[1], true], [stopped, false]] as [string, boolean][]).sort((a, b) => a[0].localeCompare(b[0])));
    const other = rows.find((r) => r.prober === m.peers[1]);
    assert.equal(rows.find((r) => r.prober === stopped)?.error, 'refused');
    assert.equal(other?.cells[stopped]?.outcome, 'refused', 'the other neighbour sees it refused too');
    assert.equal(other?.cells[m.peers[0] as string]?.outcome, 'ok');
    assert.deepEqual(doc.mesh?.peers, [...m.peers].sort());
    const html = (await request(n0.port, 'GET', '/status')).body.toString();
    assert.match(html, new RegExp(`<tr class="unreachable" data-prober="${stopped}"><th>${stopped} <small>\\(unreachable: refused\\)`));
    assert.match(html, new RegExp(`failing pair[^<]*${stopped}`));
  });
});
