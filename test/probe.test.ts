/**
 * Probe mode end to end, real processes on loopback: three heartbeats probing each
 * other (every probe ok, bytes checked, never itself, lines and metrics agreeing
 * exactly, /readyz untouched by a peer going down), and keep-alive reuse. Names the
 * prober resolves through its own /etc/hosts: test/root/probe-names.test.ts (npm run test:root).
 */
import assert from 'node:assert/strict';
import os from 'node:os';
import { PROBE_COLUMNS } from '../src/log/format';
import { neighbours } from '../src/probe/neighbours';
import { probeLines, quiet, scrape, type ProbeLine } from './helpers/probe';
import { startProxy, type Proxy } from './helpers/probe-proxy';
import { freePort, kill, request, sleep, startServer, waitFor, type Running } from './helpers/server';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// Generous on purpose: these tests check outcomes, not speed, and on a loaded machine (CI, or five jobs on
// two cores) a loopback probe has taken over 1 s; a timeout at 1 s made "every probe ok" flake.
const FAST = ['--probe-interval', '3000', '--probe-timeout', '3000'];

/** Counts of lines by the metric's label set. */
function countBy(lines: ProbeLine[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const l of lines) {
    const key = `heartbeat_probes_total{target="${l.target}",peer="${l.peer}",family="${l.family}",method="${l.method}",size="${l.size}",outcome="${l.outcome}"}`;
    out.set(key, (out.get(key) ?? 0) + 1);
  }
  return out;
}

describe('probe mode', function () {
  this.timeout(180_000);
  const running: Running[] = [];
  let proxy: Proxy | undefined;
  afterEach(async () => {
    for (const r of running.splice(0)) kill(r);
    await proxy?.close();
    proxy = undefined;
  });

  it('three heartbeats probe each other: every probe ok and checked, never itself, lines and metrics agree', async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    const targets = ports.map((p) => `http://127.0.0.1:${p}`);
    for (const port of ports) {
      running.push(await startServer(['--host', '127.0.0.1', '--log', '--metrics', '--probe-targets', targets.join(','), ...FAST,
        '--probe-sizes', '1024,65536', '--probe-upload', '100000'], { port }));
    }
    const [a, b, c] = running as [Running, Running, Running];
    // probes that ended before the last one was listening may have found it not there yet
    const allUp = new Date().toISOString();
    const since = (r: Running): ProbeLine[] => probeLines(r).filter((l) => l.time > allUp);
    // two rounds each: 2 peers x 3 probes per round
    await waitFor(() => running.every((r) => since(r).length >= 12), 90_000, 'two rounds of probes on every heartbeat');

    for (const [i, hb] of running.entries()) {
      const { lines: all, metrics } = await quiet(hb, ports[i] as number);
      const lines = all.filter((l) => l.time > allUp);
      const others = ports.filter((_, j) => j !== i).map((p) => `127.0.0.1:${p}`);
      assert.ok(lines.length >= 12);
      assert.deepEqual(all.filter((l) => l.time <= allUp && l.outcome !== 'ok' && l.outcome !== 'refused'), [], 'before: ok or not up yet');
      for (const l of lines) {
        assert.equal(l.kind, 'probe');
        assert.equal(l.outcome, 'ok', JSON.stringify(l));
        assert.equal(l.status, '200');
        assert.ok(others.includes(l.peer), `peer ${l.peer} is another heartbeat, never itself`);
        assert.equal(l.target, `http://${l.peer}`);
        assert.equal(l.bytes, l.size, 'every byte came and was checked');
        assert.ok(l.method === 'GET' ? ['1024', '65536'].includes(l.size) : l.method === 'POST' && l.size === '100000', JSON.stringify(l));
        assert.equal(l.dns_ms, '0', 'an IP literal is not resolved');
        assert.match(l.request_id, UUID);
        const [connect, ttfb, total] = [Number(l.connect_ms), Number(l.ttfb_ms), Number(l.total_ms)];
        assert.ok(connect >= 0 && ttfb >= 0 && total >= connect && total >= ttfb, JSON.stringify(l));
      }
      assert.equal(new Set(lines.map((l) => l.request_id)).size, lines.length, 'request ids are unique');
      // its own target named once, as this heartbeat
      const own = hb.lines.filter((l) => l.includes('probe target is this heartbeat'));
      assert.equal(own.length, 1, own.join('\n'));
      assert.ok((own[0] as string).includes(`http://127.0.0.1:${ports[i] as number}`) && (own[0] as string).includes(`127.0.0.1:${ports[i] as number}`), own[0]);
      assert.ok(!others.some((o) => (own[0] as string).includes(`http://${o}`)), 'only its own target');
      // every (peer, method, size) of each round: both peers, three probes each
      for (const peer of others) {
        for (const [m, s] of [['GET', '1024'], ['GET', '65536'], ['POST', '100000']]) {
          assert.ok(lines.some((l) => l.peer === peer && l.method === m && l.size === s), `${m} ${s} of ${peer}`);
        }
      }

      // the counters are the lines, exactly; the histogram counts the ok ones
      const counted = new Map([...metrics].filter(([k]) => k.startsWith('heartbeat_probes_total{')));
      assert.deepEqual(counted, countBy(all));
      for (const peer of others) {
        for (const [m, s] of [['GET', '1024'], ['GET', '65536'], ['POST', '100000']]) {
          const n = all.filter((l) => l.outcome === 'ok').filter((l) => l.peer === peer && l.method === m && l.size === s).length;
          assert.equal(metrics.get(`heartbeat_probe_duration_seconds_count{target="http://${peer}",peer="${peer}",family="ipv4",method="${m}",size="${s}"}`), n);
        }
        const last = metrics.get(`heartbeat_probe_last_success_timestamp_seconds{target="http://${peer}",peer="${peer}",family="ipv4"}`);
        assert.ok(last !== undefined && Math.abs(last - Date.now() / 1000) < 60, `last success of ${peer}: ${last}`);
      }
      for (const [j, t] of targets.entries()) {
        assert.equal(metrics.get(`heartbeat_probe_peers{target="${t}"}`), j === i ? 0 : 1, `peers of ${t} seen by heartbeat ${i}`);
      }
    }

    // the peers logged the probes as requests: as many as were probed of them, at least
    const requests = (r: Running): number => r.lines.filter((l) => l.split('\t')[1] === 'request').length;
    assert.ok(requests(a) > 0 && requests(b) > 0 && requests(c) > 0);

    // a peer going down is the peers' news, not a reason to go unready
    assert.equal(await c.stop(), 0);
    const cPeer = `127.0.0.1:${ports[2]}`;
    await waitFor(() => probeLines(a).some((l) => l.peer === cPeer && l.outcome === 'refused'), 45_000, 'a probe of the stopped peer');
    assert.equal((await request(ports[0] as number, 'GET', '/readyz')).status, 200);
    assert.equal((await request(ports[1] as number, 'GET', '/readyz')).status, 200);
    assert.equal(await a.stop(), 0);
    assert.equal(await b.stop(), 0);
    for (const hb of [a, b]) {
      assert.deepEqual(hb.lines.filter((l) => l.split('\t')[1] === 'probe').map((l) => l.split('\t').length).filter((n) => n !== PROBE_COLUMNS.length), []);
    }
  });

  it('probeMaxPeers below the addresses: the same ring neighbours every round, counters monotonic, reused connections kept', async () => {
    const peers = [];
    for (let i = 0; i < 4; i++) peers.push(await startServer(['--host', '127.0.0.1']));
    running.push(...peers);
    const labels = peers.map((p) => `127.0.0.1:${p.port}`);
    const port = await freePort();
    const prober = await startServer(['--host', '127.0.0.1', '--metrics', '--probe-targets', labels.map((l) => `http://${l}`).join(','),
      ...FAST, '--probe-sizes', '1024', '--probe-max-peers', '2', '--probe-connection', 'reuse'], { port });
    running.push(prober);
    // none of the targets is this prober: it takes its place on the ring from hostname:port (docs/probe.md)
    const want = neighbours(labels, `${os.hostname()}:${port}`, 2).sort();
    const counters: Map<string, number>[] = [];
    await waitFor(() => probeLines(prober).length >= 2, 45_000, 'a first round');
    for (let i = 0; i < 40 && !(counters.length >= 8 && Math.min(...want.map((w) => counters.at(-1)?.get(w) ?? 0)) >= 4); i++) {
      const m = scrape((await request(prober.port, 'GET', '/metrics')).body.toString());
      const c = new Map<string, number>();
      for (const [k, v] of m) {
        const peer = /^heartbeat_probes_total\{.*peer="([^"]+)"/.exec(k)?.[1];
        if (peer) c.set(peer, (c.get(peer) ?? 0) + v);
      }
      counters.push(c);
      await sleep(500);
    }
    const last = counters.at(-1) as Map<string, number>;
    assert.deepEqual([...last.keys()].sort(), want, 'series for the two neighbours, and only them');
    for (const peer of want) {
      const seen = counters.map((c) => c.get(peer) ?? 0);
      for (let i = 1; i < seen.length; i++) assert.ok((seen[i] as number) >= (seen[i - 1] as number), `${peer} never decreases: ${seen.join(',')}`);
      assert.ok((last.get(peer) as number) >= 4, `${peer} counted every round: ${seen.join(',')}`);
    }
    const { lines, metrics } = await quiet(prober, prober.port);
    assert.deepEqual([...new Set(lines.map((l) => l.peer))].sort(), want, 'the same two neighbours every round');
    assert.ok(lines.every((l) => l.outcome === 'ok'), JSON.stringify(lines));
    for (const peer of want) {
      const mine = lines.filter((l) => l.peer === peer);
      assert.ok(mine.slice(1).every((l) => l.connect_ms === '0'), `one kept connection to ${peer} across rounds: ${mine.map((l) => l.connect_ms).join(',')}`);
      assert.ok((metrics.get(`heartbeat_probe_last_success_timestamp_seconds{target="http://${peer}",peer="${peer}",family="ipv4"}`) ?? 0) > 0);
    }
    for (const l of labels) assert.equal(metrics.get(`heartbeat_probe_peers{target="http://${l}"}`), 1);
  });

  it('a neighbour never probed ok has a last-success series of 0', async () => {
    const closed = await freePort();
    const prober = await startServer(['--host', '127.0.0.1', '--metrics', '--probe-targets', `http://127.0.0.1:${closed}`, ...FAST, '--probe-sizes', '1024']);
    running.push(prober);
    await waitFor(() => probeLines(prober).length >= 2, 45_000, 'two rounds');
    const { lines, metrics } = await quiet(prober, prober.port);
    assert.ok(lines.every((l) => l.outcome === 'refused'), JSON.stringify(lines));
    const peer = `127.0.0.1:${closed}`;
    assert.equal(metrics.get(`heartbeat_probe_last_success_timestamp_seconds{target="http://${peer}",peer="${peer}",family="ipv4"}`), 0);
  });

  it('a 256 MiB probe and a 64 MiB upload: every byte checked as it streams', async () => {
    const peer = await startServer(['--host', '127.0.0.1', '--max', String(1024 * 1024 * 1024)]);
    running.push(peer);
    const prober = await startServer(['--host', '127.0.0.1', '--probe-targets', `http://127.0.0.1:${peer.port}`,
      '--probe-interval', '60000', '--probe-timeout', '60000', '--probe-sizes', String(256 * 1024 * 1024), '--probe-upload', String(64 * 1024 * 1024)]);
    running.push(prober);
    await waitFor(() => probeLines(prober).length >= 2, 60_000, 'the big probes');
    const [get, post] = probeLines(prober) as [ProbeLine, ProbeLine];
    assert.deepEqual([get.method, get.outcome, get.bytes], ['GET', 'ok', String(256 * 1024 * 1024)]);
    assert.deepEqual([post.method, post.outcome, post.bytes, post.size], ['POST', 'ok', String(64 * 1024 * 1024), String(64 * 1024 * 1024)]);
  });

  for (const mode of ['reuse', 'new'] as const) {
    it(`--probe-connection ${mode}: ${mode === 'reuse' ? 'one keep-alive connection per peer' : 'a fresh connection per probe'}`, async () => {
      const peer = await startServer(['--host', '127.0.0.1']);
      running.push(peer);
      proxy = await startProxy(peer.port, 'pass');
      const prober = await startServer(['--host', '127.0.0.1', '--probe-targets', `http://127.0.0.1:${proxy.port}`, ...FAST,
        '--probe-sizes', '1024,65536', '--probe-connection', mode]);
      running.push(prober);
      await waitFor(() => probeLines(prober).length >= 6, 60_000, 'three rounds');
      assert.equal(await prober.stop(), 0);
      const lines = probeLines(prober);
      assert.ok(lines.every((l) => l.outcome === 'ok'), JSON.stringify(lines));
      if (mode === 'reuse') {
        assert.equal(proxy.connections, 1, 'every probe went over the first connection');
        assert.ok(lines.slice(1).every((l) => l.connect_ms === '0'), 'no handshake after the first probe');
      } else {
        assert.equal(proxy.connections, lines.length);
      }
    });
  }
});
