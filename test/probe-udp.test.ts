/**
 * Probe mode, UDP (probeUdp): the `udp` line's format, the loss attribution and statistics
 * (src/probe/udp-stats.ts), and the compiled prober against a compiled peer over real UDP on
 * loopback: one line per peer and round, N datagrams spaced across the round, nothing lost; a peer
 * whose responder is off: every datagram lost, direction unknown (what the attribution cannot see).
 * Loss by direction against the kernel's own count is the root tier's (test/root/udp-loss.test.ts).
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type * as client from 'prom-client';
import { createUdpMetrics } from '../src/probe/udp-metrics';
import { registerEchoMetrics } from '../src/udp/metrics';
import { DROP_REASONS } from '../src/udp/responder';
import { PER_SOURCE, TOTAL } from '../src/udp/limits';
import { formatUdp, UDP_COLUMNS, type UdpRecord } from '../src/log/format';
import { attribute, nextJitter, percentile } from '../src/probe/udp-stats';
import { OFFSET, TYPE, answerType } from '../src/udp/datagram';
import type { StatusDocument } from '../src/status/report';
import { hasIpv6Loopback, scrape } from './helpers/probe';
import { kill, request, ROOT, runCli, startServer, until, type Running } from './helpers/server';

const RECORD: UdpRecord = {
  time: '2026-12-05T03:30:00.000Z', target: 'http://peers:8080', peer: '[fd00::8]:8080', family: 'ipv6', sent: 20, lost_out: 1, lost_back: 2,
  lost_unknown: 0, duplicates: 0, reordered: 1, rtt_p50_ms: 0.5, rtt_p99_ms: 2, jitter_ms: 0.125, self_ms: 0.018,
};

/** The udp lines a heartbeat wrote so far, as records of strings. */
function udpLines(r: Running): Record<(typeof UDP_COLUMNS)[number], string>[] {
  return r.lines.flatMap((line) => {
    if (line.startsWith('{')) {
      const o = JSON.parse(line) as Record<string, unknown>;
      return o.kind === 'udp' ? [Object.fromEntries(UDP_COLUMNS.map((c) => [c, String(o[c])])) as Record<(typeof UDP_COLUMNS)[number], string>] : [];
    }
    const cols = line.split('\t');
    if (cols[1] !== 'udp') return [];
    assert.equal(cols.length, UDP_COLUMNS.length, line);
    return [Object.fromEntries(UDP_COLUMNS.map((c, i) => [c, cols[i] as string])) as Record<(typeof UDP_COLUMNS)[number], string>];
  });
}

describe('UDP probe: the udp line', () => {
  it('writes the TSV columns of UDP_COLUMNS in order', () => {
    assert.deepEqual(formatUdp(RECORD, 'tsv').split('\t'),
      ['2026-12-05T03:30:00.000Z', 'udp', 'http://peers:8080', '[fd00::8]:8080', 'ipv6', '20', '1', '2', '0', '0', '1', '0.5', '2', '0.125', '0.018']);
  });

  it('writes JSON with the same names in the same order, times always floats', () => {
    const line = formatUdp(RECORD, 'json');
    assert.deepEqual(Object.keys(JSON.parse(line) as object), [...UDP_COLUMNS]);
    assert.match(line, /"rtt_p50_ms":0\.5,"rtt_p99_ms":2\.0,"jitter_ms":0\.125,"self_ms":0\.018\}$/);
  });

  it('escapes the target so it never adds a line or a column', () => {
    const tsv = formatUdp({ ...RECORD, target: 'http://a\tb\nc' }, 'tsv');
    assert.equal(tsv.split('\t').length, UDP_COLUMNS.length);
    assert.equal((JSON.parse(formatUdp({ ...RECORD, target: 'http://a\tb\nc' }, 'json')) as UdpRecord).target, 'http://a\\tb\\nc');
  });
});

describe('UDP probe: attribution and statistics', () => {
  it('lost out = sent - the peer\'s count; lost back = the rest of the unanswered', () => {
    assert.deepEqual(attribute({ sent: 100, answered: 90, peerCount: 97 }), { lostOut: 3, lostBack: 7, lostUnknown: 0 });
    assert.deepEqual(attribute({ sent: 20, answered: 20, peerCount: 20 }), { lostOut: 0, lostBack: 0, lostUnknown: 0 });
    assert.deepEqual(attribute({ sent: 20, answered: 0, peerCount: 0 }), { lostOut: 20, lostBack: 0, lostUnknown: 0 });
    assert.deepEqual(attribute({ sent: 20, answered: 0, peerCount: 20 }), { lostOut: 0, lostBack: 20, lostUnknown: 0 });
  });

  it('no count from the peer: the lost are unknown; a count above sent (a duplicate on the way out) is capped', () => {
    assert.deepEqual(attribute({ sent: 20, answered: 15, peerCount: undefined }), { lostOut: 0, lostBack: 0, lostUnknown: 5 });
    assert.deepEqual(attribute({ sent: 20, answered: 18, peerCount: 21 }), { lostOut: 0, lostBack: 2, lostUnknown: 0 });
    // a count below the answered cannot be this round's: not attributed
    assert.deepEqual(attribute({ sent: 20, answered: 18, peerCount: 5 }), { lostOut: 0, lostBack: 0, lostUnknown: 2 });
  });

  it('percentiles by nearest rank; RFC 3550 jitter J += (|D| - J) / 16 over answers in arrival order', () => {
    const sorted = Array.from({ length: 100 }, (_v, i) => i + 1);
    assert.equal(percentile(sorted, 0.5), 50);
    assert.equal(percentile(sorted, 0.99), 99);
    assert.equal(percentile([7], 0.99), 7);
    assert.equal(percentile([], 0.5), 0);
    let j = 0;
    let prev = NaN;
    for (const rtt of [1, 3, 3, 1]) { j = nextJitter(j, prev, rtt); prev = rtt; }
    // D = 2, 0, 2: J = 2/16 = 0.125; 0.125 - 0.125/16; then + (2 - J)/16
    const j1 = 2 / 16;
    const j2 = j1 + (0 - j1) / 16;
    assert.equal(j, j2 + (2 - j2) / 16);
  });
});

describe('UDP probe: a compiled prober and peer over loopback', function () {
  this.timeout(60_000);
  let peer: Running | undefined;
  let prober: Running | undefined;
  afterEach(() => { kill(prober); kill(peer); });

  const probeArgs = (port: number, n: number, extra: string[] = []): string[] => [
    '--host', '127.0.0.1', '--metrics', '--probe-targets', `http://127.0.0.1:${port}`, '--probe-sizes', '1024',
    '--probe-udp', String(n), '--probe-interval', '1500', '--probe-timeout', '1000', ...extra,
  ];

  it('one udp line per peer and round: N sent, nothing lost, RTTs and jitter; the metrics agree', async () => {
    peer = await startServer(['--host', '127.0.0.1', '--metrics']);
    prober = await startServer(probeArgs(peer.port, 12, ['--log-format', 'json', '--status']));
    const p = prober;
    const lines = await until('two udp lines', 20_000, () => Promise.resolve(udpLines(p).length >= 2 ? udpLines(p) : undefined));
    for (const l of lines.slice(0, 2)) {
      assert.equal(l.target, `http://127.0.0.1:${(peer).port}`);
      assert.equal(l.peer, `127.0.0.1:${(peer).port}`);
      assert.equal(l.family, 'ipv4');
      assert.deepEqual([l.sent, l.lost_out, l.lost_back, l.lost_unknown, l.duplicates, l.reordered], ['12', '0', '0', '0', '0', '0']);
      assert.ok(Number(l.rtt_p50_ms) > 0 && Number(l.rtt_p99_ms) >= Number(l.rtt_p50_ms), JSON.stringify(l));
      assert.ok(Number(l.jitter_ms) >= 0);
      // the probing thread's self-check over the round's answers: a lateness in ms, never negative
      assert.ok(Number(l.self_ms) >= 0 && Number(l.self_ms) <= 1000, JSON.stringify(l));
    }
    const m = scrape((await request(p.port, 'GET', '/metrics')).body.toString());
    const labels = `target="http://127.0.0.1:${peer.port}",peer="127.0.0.1:${peer.port}",family="ipv4"`;
    const sent = m.get(`heartbeat_udp_probe_sent_total{${labels}}`) as number;
    assert.ok(sent >= 24 && sent % 12 === 0, `sent ${sent}`);
    assert.equal(m.get(`heartbeat_udp_probe_rtt_seconds_count{${labels}}`), sent);
    for (const d of ['out', 'back', 'unknown']) assert.equal(m.get(`heartbeat_udp_probe_lost_total{${labels},direction="${d}"}`), 0, d);
    // the peer answered every echo and count question
    const answered = scrape((await request(peer.port, 'GET', '/metrics')).body.toString()).get('heartbeat_udp_echo_answered_total') as number;
    assert.ok(answered >= sent, `the peer answered ${answered}`);
    // the status page's UDP view: the same neighbour, nothing lost either way
    const doc = JSON.parse((await request(p.port, 'GET', '/status.json')).body.toString()) as StatusDocument;
    assert.equal(doc.instance.settings.probeUdp, 12);
    assert.deepEqual(doc.udp.map((r) => [r.peer, r.family, r.lossOutPct, r.lossBackPct, r.lossUnknownPct]), [[`127.0.0.1:${peer.port}`, 'ipv4', 0, 0, 0]]);
    assert.ok((doc.udp[0]?.sent ?? 0) >= 24);
    const html = (await request(p.port, 'GET', '/status')).body.toString();
    assert.match(html, /<h2>UDP loss by direction \(1 neighbours\)<\/h2>/);
    assert.match(html, /<th>loss out %<\/th><th>loss back %<\/th>/);
  });

  it('a peer probed over IPv4 and IPv6: every per-pair series (TCP and UDP) and the per-target histograms carry its family', async () => {
    assert.ok(hasIpv6Loopback(), 'this test needs ::1 (a peer probed over both families)');
    // one peer listening on both families (:: is dual-stack, TCP and UDP), probed at 127.0.0.1 and at [::1]
    peer = await startServer(['--host', '::']);
    const v4 = `127.0.0.1:${peer.port}`;
    const v6 = `[::1]:${peer.port}`;
    prober = await startServer(['--host', '127.0.0.1', '--metrics', '--log-format', 'json', '--probe-targets', `http://${v4},http://${v6}`,
      '--probe-sizes', '1024', '--probe-udp', '3', '--probe-interval', '1500', '--probe-timeout', '1000']);
    const p = prober;
    const lines = await until('a udp line of each family', 20_000, () => Promise.resolve(new Set(udpLines(p).map((l) => l.family)).size === 2 ? udpLines(p) : undefined));
    assert.deepEqual(new Map(lines.map((l) => [l.peer, l.family])), new Map([[v4, 'ipv4'], [v6, 'ipv6']]));
    const m = await until('ok probes of both', 20_000, async () => {
      const s = scrape((await request(p.port, 'GET', '/metrics')).body.toString());
      return [v4, v6].every((x) => [...s.keys()].some((k) => k.startsWith('heartbeat_probe_duration_seconds_count{') && k.includes(`peer="${x}"`))) ? s : undefined;
    });
    for (const [peerLabel, family] of [[v4, 'ipv4'], [v6, 'ipv6']] as const) {
      const pair = `target="http://${peerLabel}",peer="${peerLabel}",family="${family}"`;
      assert.ok((m.get(`heartbeat_probes_total{${pair},method="GET",size="1024",outcome="ok"}`) ?? 0) >= 1, `${pair}: ${[...m.keys()].filter((k) => k.includes(peerLabel)).join('\n')}`);
      assert.ok((m.get(`heartbeat_probe_duration_seconds_count{${pair},method="GET",size="1024"}`) ?? 0) >= 1, pair);
      assert.ok((m.get(`heartbeat_probe_last_success_timestamp_seconds{${pair}}`) ?? 0) > 0, pair);
      assert.equal(m.get(`heartbeat_probe_path_limit_bytes{${pair}}`), 0, pair);
      assert.ok((m.get(`heartbeat_probe_self_seconds_count{target="http://${peerLabel}",family="${family}"}`) ?? 0) >= 1, pair);
      assert.ok((m.get(`heartbeat_probe_phase_seconds_count{target="http://${peerLabel}",family="${family}",method="GET",size="1024",phase="ttfb"}`) ?? 0) >= 1, pair);
      assert.ok((m.get(`heartbeat_udp_probe_sent_total{${pair}}`) ?? 0) >= 3, pair);
      for (const d of ['out', 'back', 'unknown']) assert.equal(m.get(`heartbeat_udp_probe_lost_total{${pair},direction="${d}"}`), 0, `${pair} ${d}`);
      assert.ok((m.get(`heartbeat_udp_probe_rtt_seconds_count{${pair}}`) ?? 0) >= 3, pair);
      assert.ok(m.has(`heartbeat_udp_probe_jitter_seconds{${pair}}`), pair);
    }
    // no series of a pair under the other family's label, nor without one
    for (const k of m.keys()) {
      if (!/^heartbeat_(probe|probes|udp_probe)_/.test(k) || !k.includes('target=') || k.startsWith('heartbeat_probe_peers{')) continue;
      assert.match(k, k.includes('[::1]') ? /family="ipv6"/ : /family="ipv4"/, k);
    }
  });

  it('spaces the datagrams across the round: never a burst', async () => {
    // a stand-in peer that notes when each echo arrives, and answers nothing
    const sock = dgram.createSocket('udp4');
    const arrivals: number[] = [];
    sock.on('message', (m: Buffer) => { if (m[OFFSET.type] === TYPE.echo) arrivals.push(performance.now()); });
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    try {
      prober = await startServer(probeArgs(sock.address().port, 10, ['--probe-interval', '2000']));
      await until('10 echoes', 20_000, () => Promise.resolve(arrivals.length >= 10 ? true : undefined));
      // 10 over half of 2 s: 100 ms apart, 900 ms first to last; a burst would be a few ms (timers only fire late,
      // so only a first datagram sent very late could shorten the span: half of it is the bound)
      const span = (arrivals[9] as number) - (arrivals[0] as number);
      assert.ok(span >= 450, `10 datagrams over ${span.toFixed(1)} ms`);
    } finally {
      sock.close();
    }
  });

  it('a peer whose responder is off: every datagram lost, direction unknown (no count came)', async () => {
    peer = await startServer(['--host', '127.0.0.1', '--udp-echo=false']);
    prober = await startServer(probeArgs(peer.port, 5));
    const p = prober;
    const [l] = await until('a udp line', 20_000, () => Promise.resolve(udpLines(p).length >= 1 ? udpLines(p) : undefined));
    // no answer was stamped: nothing of the prober's own delay is in the line
    assert.deepEqual([l?.sent, l?.lost_out, l?.lost_back, l?.lost_unknown, l?.rtt_p50_ms, l?.jitter_ms, l?.self_ms], ['5', '0', '0', '5', '0', '0', '0']);
  });

  it('answers from another address or with another probe id are not taken for the peer\'s', async () => {
    // a stand-in that answers each echo twice: once correctly, once with the probe id altered
    const sock = dgram.createSocket('udp4');
    sock.on('message', (m: Buffer, r) => {
      if (m[OFFSET.type] !== TYPE.echo && m[OFFSET.type] !== TYPE.count) return;
      const good = Buffer.from(m);
      good[OFFSET.type] = (m[OFFSET.type] as number) + 1;
      good.writeUInt32BE(m[OFFSET.type] === TYPE.count ? 4 : 1, OFFSET.received);
      assert.ok(answerType(good) !== 0);
      const forged = Buffer.from(good);
      forged[OFFSET.id] = (forged[OFFSET.id] as number) ^ 0xff;
      sock.send(forged, r.port, r.address);
      sock.send(good, r.port, r.address);
    });
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    try {
      prober = await startServer(probeArgs(sock.address().port, 4));
      const p = prober;
      const [l] = await until('a udp line', 20_000, () => Promise.resolve(udpLines(p).length >= 1 ? udpLines(p) : undefined));
      assert.deepEqual([l?.sent, l?.lost_out, l?.lost_back, l?.lost_unknown, l?.duplicates], ['4', '0', '0', '0', '0']);
    } finally {
      sock.close();
    }
  });

  it('probeUdp is 0 to 1000 datagrams: flag and environment', async () => {
    const bad = await runCli(['--probe-udp', '1001']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /invalid setting probeUdp = 1001 \(flag --probe-udp\): must be a whole number of datagrams from 0 to 1000/);
    const env = await runCli(['--probe-timeout', 'x'], { HEARTBEAT_PROBE_UDP: '-1' });
    assert.match(env.stderr, /invalid setting probeUdp = "-1" \(env HEARTBEAT_PROBE_UDP\)/);
  });
});

describe('UDP probe: docs follow the code', () => {
  const doc = (name: string): string => readFileSync(path.join(ROOT, 'docs', name), 'utf8');

  it('docs/probe.md lists the udp line columns in order, and docs/logs.md names them', () => {
    const text = doc('probe.md');
    const section = text.slice(text.indexOf('### The udp line'));
    const table = /\n\| column[^\n]*\|\n\| ---[^\n]*\n((?:\|[^\n]*\n)+)/.exec(section);
    assert.ok(table);
    const cols = (table[1] as string).split('\n').filter(Boolean).flatMap((row) => (row.split('|')[1] as string).trim().split(', ').map((c) => c.replace(/`/g, '')));
    assert.deepEqual(cols, [...UDP_COLUMNS]);
    const m = /\*\*UDP probe lines\*\*[\s\S]*?Columns, in order: ((?:`[a-z_0-9]+`,?\s*)+);/.exec(doc('logs.md'));
    assert.ok(m);
    assert.deepEqual((m[1] as string).match(/[a-z_0-9]+/g), [...UDP_COLUMNS]);
  });

  it('docs/probe.md lists every UDP metric, probe and responder, with its labels, as registered', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const prom = require('prom-client') as typeof client;
    const registry = new prom.Registry();
    createUdpMetrics(registry);
    const registered = (await registry.getMetricsAsJSON()).map((m) => m.name);
    const text = doc('probe.md');
    const rows = [...text.matchAll(/^\| `(heartbeat_udp_probe[a-z_]*)` \| [^|]+ \| ([^|]*) \|$/gm)];
    assert.deepEqual(rows.map((r) => r[1]), registered);
    for (const [, name, labels] of rows) {
      const metric = registry.getSingleMetric(name as string) as unknown as { labelNames: string[] };
      assert.deepEqual((labels as string).match(/[a-z_]+/g), metric.labelNames, `labels of ${name}`);
    }
    const echo = new prom.Registry();
    registerEchoMetrics(echo, { answered: 0, dropped: { malformed: 0, source: 0, rate_source: 0, rate_total: 0, send_error: 0 } });
    for (const m of await echo.getMetricsAsJSON()) assert.ok(text.includes(`\`${m.name}`), m.name);
    for (const reason of DROP_REASONS) assert.ok(text.includes(`\`${reason}\``), reason);
    assert.ok(text.includes(`**${PER_SOURCE.rate} answers/s per source address (burst ${PER_SOURCE.burst})**`), 'the per-source limit');
    assert.ok(text.includes(`**${TOTAL.rate.toLocaleString('en')} answers/s in all (burst ${TOTAL.burst.toLocaleString('en')})**`), 'the total limit');
  });
});
