/**
 * Path-MTU blackholes on a real kernel path (npm run test:root): client — router — server network
 * namespaces joined by veth pairs (test/helpers/netns.ts), the router's link toward the client at
 * MTU 1400 while both ends keep 1500, tcp_mtu_probing pinned to 0 in every namespace. With the
 * router's ICMP "fragmentation needed" / "packet too big" dropped, the server's full segments never
 * arrive: 1 KiB probes are `ok`, 64 KiB probes `mtu` with the largest answer that crosses; with ICMP
 * let through (PMTUD works) every probe is `ok`. `?wire` answers are counted on the router as they
 * are forwarded. The heartbeats run inside the namespaces; nothing leaves them.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { alertRules } from '../../scripts/alerts';
import { ADDR, createPathNet, requireNetns, type PathNet } from '../helpers/netns';
import { probeLines, scrape, type ProbeLine } from '../helpers/probe';
import { promtool, requirePrometheusTool } from '../helpers/prometheus';
import { kill, NODE, ROOT, startServer, waitFor, type Running } from '../helpers/server';
import { makeScratch, removeScratch } from '../../scripts/scratch';

const MTU = 1400;
const PORT = 18080;
/** TCP payload per segment on the 1400 path: IPv4 20 + TCP 20 + timestamps 12; IPv6 40 + 20 + 12. */
const SEGMENT = { v4: MTU - 52, v6: MTU - 72 };

/** A client inside `ns`: GET `target` on a fresh connection; every byte received until the close, or the stall. */
const CLIENT = `
const net = require('net');
const [host, port, target, stallMs] = process.argv.slice(1);
const s = net.connect({ host, port: Number(port) });
let bytes = 0, head = '', timer;
const done = (closed) => { clearTimeout(timer); s.destroy(); console.log(JSON.stringify({ bytes, closed, status: head.slice(9, 12) })); };
const arm = () => { clearTimeout(timer); timer = setTimeout(() => done(false), Number(stallMs)); };
s.on('connect', () => { arm(); s.write('GET ' + target + ' HTTP/1.1\\r\\nHost: ' + host + '\\r\\nConnection: close\\r\\n\\r\\n'); });
s.on('data', (c) => { bytes += c.length; if (head.length < 12) head += c.toString('latin1', 0, 12); arm(); });
s.on('end', () => done(true));
s.on('error', (e) => { console.log(JSON.stringify({ error: e.code })); process.exit(0); });
`;

interface Received { bytes: number; closed: boolean; status: string }

describe('path-MTU blackholes through real network namespaces (client, router at MTU 1400, server)', function () {
  this.timeout(180_000);
  let net: PathNet | undefined;
  let server: Running | undefined;
  let prober: Running | undefined;

  before(async () => {
    requireNetns(); // fails at once, naming root, iproute2 and nftables, where they are missing
    requirePrometheusTool('promtool');
    net = createPathNet(MTU, PORT);
    server = await startServer(['--host', '::', '--log'], { port: PORT, wrap: ['ip', 'netns', 'exec', net.server] });
  });
  after(() => {
    kill(prober);
    kill(server);
    net?.remove();
  });

  const fetchIn = (ns: string, url: string): Promise<string> =>
    (net as PathNet).exec(ns, [NODE, '-e', `fetch(${JSON.stringify(url)}).then((r) => r.text()).then((t) => process.stdout.write(t))`]);

  const receive = async (host: string, target: string, stallMs = 1500): Promise<Received> =>
    JSON.parse(await (net as PathNet).exec((net as PathNet).client, [NODE, '-e', CLIENT, host, String(PORT), target, String(stallMs)])) as Received;

  /** TCP payload bytes counted since `before` (nft counts IP packets: 52 header bytes each for IPv4, 72 for IPv6). */
  const payload = (before: Map<string, [number, number]>, now: Map<string, [number, number]>, key: string, family: 'v4' | 'v6'): { packets: number; payload: number } => {
    const [p0, b0] = before.get(key) ?? [0, 0];
    const [p1, b1] = now.get(key) ?? [0, 0];
    const headers = family === 'v4' ? 52 : 72;
    return { packets: p1 - p0, payload: b1 - b0 - headers * (p1 - p0) };
  };
  /** What the router forwarded from the server toward the client since `before`. */
  const forwarded = (before: Map<string, [number, number]>, family: 'v4' | 'v6') =>
    payload(before, (net as PathNet).counters(), family === 'v4' ? 'data4' : 'data6', family);
  /** What the server sent (each transmission) since `before`. */
  const sent = (before: Map<string, [number, number]>, family: 'v4' | 'v6') =>
    payload(before, (net as PathNet).serverCounters(), family === 'v4' ? 'sent4' : 'sent6', family);

  const startProber = async (): Promise<Running> => startServer([
    '--host', '127.0.0.1', '--metrics',
    '--probe-targets', `http://${ADDR.server.v4}:${PORT},http://[${ADDR.server.v6}]:${PORT}`,
    '--probe-sizes', '1024,65536', '--probe-interval', '3000', '--probe-timeout', '2000',
  ], { wrap: ['ip', 'netns', 'exec', (net as PathNet).client] });

  const peers = { v4: `${ADDR.server.v4}:${PORT}`, v6: `[${ADDR.server.v6}]:${PORT}` };

  it('?wire answers exactly N bytes on the wire: N = one full segment of the path crosses, N+1 does not (ICMP dropped)', async () => {
    const n = net as PathNet;
    n.dropIcmp(true);
    n.flushPmtu();
    for (const family of ['v4', 'v6'] as const) {
      const addr = family === 'v4' ? ADDR.server.v4 : ADDR.server.v6;
      const fits = SEGMENT[family];
      let before = n.counters();
      let atServer = n.serverCounters();
      const one = await receive(addr, `/heartbeat/${fits}?wire`);
      assert.deepEqual(one, { bytes: fits, closed: true, status: '200' }, `${family}: ${fits}?wire`);
      assert.deepEqual(sent(atServer, family), { packets: 1, payload: fits }, `${family}: the server sent one segment of exactly ${fits} bytes`);
      assert.deepEqual(forwarded(before, family), { packets: 1, payload: fits }, `${family}: and it crossed the router`);

      before = n.counters();
      atServer = n.serverCounters();
      const over = await receive(addr, `/heartbeat/${fits + 1}?wire`);
      assert.deepEqual(over, { bytes: 0, closed: false, status: '' }, `${family}: ${fits + 1}?wire must not cross`);
      const tried = sent(atServer, family);
      assert.ok(tried.packets >= 1 && tried.payload === tried.packets * (fits + 1), `${family}: the server sent (and resent) one segment of ${fits + 1} bytes: ${JSON.stringify(tried)}`);
      assert.deepEqual(forwarded(before, family), { packets: 0, payload: 0 }, `${family}: nothing forwarded`);
    }
    const dropped = n.counters();
    assert.ok((dropped.get('frag-needed')?.[0] ?? 0) > 0, 'the router dropped its "fragmentation needed"');
    assert.ok((dropped.get('packet-too-big')?.[0] ?? 0) > 0, 'the router dropped its "packet too big"');
  });

  it('ICMP dropped: 1 KiB probes ok, 64 KiB probes mtu with the limit of the path, the metric and the alert', async () => {
    const n = net as PathNet;
    n.dropIcmp(true);
    n.flushPmtu();
    prober = await startProber();
    const p = prober;
    const of = (peer: string, size: string): ProbeLine[] => probeLines(p).filter((l) => l.peer === peer && l.size === size);
    // two rounds each: the first finds the limit (bisect), the second confirms it (two wire probes)
    await waitFor(() => Object.values(peers).every((peer) => of(peer, '65536').length >= 2), 120_000, 'two 64 KiB probes of each peer');
    for (const [family, peer] of Object.entries(peers) as ['v4' | 'v6', string][]) {
      for (const l of of(peer, '1024')) assert.equal(l.outcome, 'ok', JSON.stringify(l));
      for (const l of of(peer, '65536')) {
        assert.equal(l.outcome, 'mtu', JSON.stringify(l));
        assert.equal(l.bytes, '0');
        assert.equal(l.path_limit, String(SEGMENT[family]), `${family}: the largest answer that crosses is one segment of the path`);
      }
    }
    const metrics = scrape(await fetchIn(n.client, `http://127.0.0.1:${p.port}/metrics`));
    const series = Object.entries(peers).map(([family, peer]) => {
      const key = [...metrics.keys()].find((k) => k.startsWith('heartbeat_probe_path_limit_bytes{') && k.includes(`peer="${peer}"`));
      assert.ok(key, `a path-limit series for ${peer}`);
      assert.equal(metrics.get(key), SEGMENT[family as 'v4' | 'v6']);
      return key;
    });
    process.stdout.write(`      probe lines (blackhole):\n${p.lines.filter((l) => l.includes('\tprobe\t')).slice(-4).map((l) => `        ${l}\n`).join('')}`);
    process.stdout.write(`      the check:\n${p.lines.filter((l) => l.includes('path MTU blackhole')).map((l) => `        ${l}\n`).join('')}`);
    process.stdout.write(`      metric: ${series.map((k) => `${k} ${metrics.get(k)}`).join('\n              ')}\n`);
    assertAlertFires(series.map((k) => [k, metrics.get(k) as number]));
    await p.stop();
  });

  it('ICMP let through (path-MTU discovery works): every probe ok, no mtu, the path limit 0', async () => {
    const n = net as PathNet;
    n.dropIcmp(false);
    n.flushPmtu();
    prober = await startProber();
    const p = prober;
    const of = (peer: string): ProbeLine[] => probeLines(p).filter((l) => l.peer === peer);
    await waitFor(() => Object.values(peers).every((peer) => of(peer).length >= 4), 60_000, 'two rounds of each peer');
    for (const peer of Object.values(peers)) {
      for (const l of of(peer)) {
        assert.equal(l.outcome, 'ok', JSON.stringify(l));
        assert.equal(l.path_limit, '0');
      }
    }
    const metrics = scrape(await fetchIn(n.client, `http://127.0.0.1:${p.port}/metrics`));
    for (const peer of Object.values(peers)) {
      const key = [...metrics.keys()].find((k) => k.startsWith('heartbeat_probe_path_limit_bytes{') && k.includes(`peer="${peer}"`));
      assert.ok(key);
      assert.equal(metrics.get(key), 0);
      process.stdout.write(`      metric: ${key} ${metrics.get(key)}\n`);
    }
    // the server learnt the path's MTU from the router's ICMP, so larger answers cross too
    const big = await receive(ADDR.server.v4, '/heartbeat/65536?wire');
    assert.deepEqual(big, { bytes: 65536, closed: true, status: '200' });
    process.stdout.write(`      probe lines (ICMP allowed):\n${p.lines.filter((l) => l.includes('\tprobe\t')).slice(-4).map((l) => `        ${l}\n`).join('')}`);
    await p.stop();
  });
});

/** The shipped rule (prometheus/heartbeat-rules.yaml) evaluated by promtool on the series the prober exported. */
function assertAlertFires(series: [string, number][]): void {
  const dir = makeScratch('heartbeat-mtu-alert-');
  try {
    const withJob = series.map(([k, v]) => [k.replace('{', '{job="heartbeat",instance="prober:9090",'), v] as const);
    const labels = (k: string): string => k.slice(k.indexOf('{') + 1, -1);
    const rule = alertRules().flatMap((g) => g.rules).find((r) => r.alert === 'HeartbeatPathMtuBlackhole');
    assert.ok(rule);
    // the annotations as Prometheus fills them in: the series' labels and value
    const filled = (text: string, k: string, v: number): string => text.replace(/\{\{ \$value \}\}/g, String(v))
      .replace(/\{\{ \$labels\.([a-z_]+) \}\}/g, (_m, name: string) => new RegExp(`${name}="([^"]*)"`).exec(k)?.[1] ?? '');
    const test = [
      `rule_files: [${JSON.stringify(path.join(ROOT, 'prometheus', 'heartbeat-rules.yaml'))}]`,
      'evaluation_interval: 1m',
      'tests:',
      '  - interval: 1m',
      '    input_series:',
      ...withJob.map(([k, v]) => `      - { series: ${JSON.stringify(k)}, values: '${v}x10' }`),
      '    alert_rule_test:',
      '      - eval_time: 5m',
      '        alertname: HeartbeatPathMtuBlackhole',
      '        exp_alerts:',
      ...withJob.flatMap(([k, v]) => [
        `          - exp_labels: { severity: critical, ${labels(k).replace(/="/g, ': "')} }`,
        `            exp_annotations: { summary: ${JSON.stringify(filled(rule.annotations.summary, k, v))}, description: ${JSON.stringify(filled(rule.annotations.description, k, v))} }`,
      ]),
      '',
    ].join('\n');
    writeFileSync(path.join(dir, 'mtu.yaml'), test);
    const r = promtool(['test', 'rules', path.join(dir, 'mtu.yaml')]);
    assert.equal(r.status, 0, `HeartbeatPathMtuBlackhole on the measured series:\n${r.output}\n${test}`);
  } finally {
    removeScratch(dir);
  }
}

