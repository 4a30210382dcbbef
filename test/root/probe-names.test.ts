/**
 * Probe mode and names: a name is probed at each of its addresses, resolved again every round,
 * and one that does not resolve is a `dns` outcome. The prober gets its own /etc/hosts and
 * /etc/resolv.conf (a private mount namespace: needs root and util-linux's unshare), so the
 * names are the test's, and no DNS query ever leaves loopback. npm run test:root.
 */
import assert from 'node:assert/strict';
import dns from 'node:dns';
import { writeFileSync } from 'node:fs';
import { hasIpv6Loopback, privateResolver, privateResolverFiles, probeLines, quiet, type ProbeLine } from '../helpers/probe';
import { kill, startServer, waitFor, type Running } from '../helpers/server';

const FAST = ['--probe-interval', '1000', '--probe-timeout', '1000'];

describe('probe mode: names (the prober with a resolver of its own)', function () {
  this.timeout(60_000);
  const running: Running[] = [];
  let prober: Running | undefined;
  before(() => { privateResolver(''); }); // fails at once, naming root and unshare, where they are missing
  afterEach(() => {
    for (const r of running.splice(0)) kill(r);
    kill(prober);
    prober = undefined;
  });

  it('probes a name at each of its addresses (localhost: 127.0.0.1 and ::1 where the machine has IPv6)', async () => {
    const v6 = hasIpv6Loopback();
    const system = (await dns.promises.lookup('localhost', { all: true })).map((x) => x.address);
    const wanted = v6 ? ['127.0.0.1', '::1'] : ['127.0.0.1'];
    // where this machine's /etc/hosts names localhost with fewer addresses, the prober gets its own
    const wrap = wanted.every((w) => system.includes(w)) ? undefined : privateResolver(wanted.map((a) => `${a} localhost\n`).join(''));
    const peer = await startServer(['--host', v6 ? '::' : '127.0.0.1', '--log']);
    running.push(peer);
    const prober = await startServer(['--host', '127.0.0.1', '--metrics', '--probe-targets', `http://localhost:${peer.port}`, ...FAST,
      '--probe-sizes', '1024'], { wrap });
    running.push(prober);
    const labels = wanted.map((a) => (a.includes(':') ? `[${a}]:${peer.port}` : `${a}:${peer.port}`));
    await waitFor(() => labels.every((p) => probeLines(prober).some((l) => l.peer === p)), 20_000, `probes of ${labels.join(' and ')}`);
    const { lines, metrics } = await quiet(prober, prober.port);
    assert.deepEqual([...new Set(lines.map((l) => l.peer))].sort(), [...labels].sort());
    for (const l of lines) {
      assert.equal(l.outcome, 'ok', JSON.stringify(l));
      assert.equal(l.target, `http://localhost:${peer.port}`);
      assert.ok(Number(l.dns_ms) >= 0);
    }
    assert.equal(metrics.get(`heartbeat_probe_peers{target="http://localhost:${peer.port}"}`), wanted.length);
    // the peer saw both families
    const clients = new Set(peer.lines.filter((l) => l.split('\t')[1] === 'request').map((l) => l.split('\t')[8]));
    if (v6) assert.ok(clients.has('::1'), [...clients].join(' '));
    assert.ok([...clients].some((cl) => /^(::ffff:)?127\.0\.0\.1$/.test(cl as string)), [...clients].join(' '));
  });

  it('resolves a name again every round: an address gone from it is no longer probed, and its series go after 10 rounds', async () => {
    assert.ok(hasIpv6Loopback(), 'this test needs ::1 (a name with two loopback addresses)');
    const { wrap, hostsFile } = privateResolverFiles('127.0.0.1 peers.test\n::1 peers.test\n');
    const peer = await startServer(['--host', '::']);
    running.push(peer);
    const target = `http://peers.test:${peer.port}`;
    const v4 = `127.0.0.1:${peer.port}`;
    const v6 = `[::1]:${peer.port}`;
    const prober = await startServer(['--host', '127.0.0.1', '--metrics', '--probe-targets', target, '--probe-interval', '500',
      '--probe-timeout', '500', '--probe-sizes', '1024'], { wrap });
    running.push(prober);
    await waitFor(() => [v4, v6].every((p) => probeLines(prober).some((l) => l.peer === p)), 20_000, 'probes of both addresses');
    const before = await quiet(prober, prober.port);
    assert.ok([...before.metrics.keys()].some((k) => k.startsWith('heartbeat_probes_total{') && k.includes(`peer="${v6}"`)));
    assert.equal(before.metrics.get(`heartbeat_probe_peers{target="${target}"}`), 2);

    writeFileSync(hostsFile, '127.0.0.1 peers.test\n'); // ::1 leaves the name (the same file, rewritten in place)
    const at = probeLines(prober).length;
    const after = (): ProbeLine[] => probeLines(prober).slice(at);
    await waitFor(() => after().filter((l) => l.peer === v4).length >= 12, 30_000, '12 more rounds');
    assert.ok(after().filter((l) => l.peer === v6).length <= 1, 'at most the round already resolved probes ::1 once more');
    const { metrics } = await quiet(prober, prober.port, false);
    assert.deepEqual([...metrics.keys()].filter((k) => k.includes(`peer="${v6}"`)), [], 'every series of the gone address dropped');
    assert.ok([...metrics.keys()].some((k) => k.startsWith('heartbeat_probes_total{') && k.includes(`peer="${v4}"`)));
    assert.equal(metrics.get(`heartbeat_probe_peers{target="${target}"}`), 1);
  });

  it('a name that does not resolve: dns, one line per planned probe, peer = the target host:port', async () => {
    const wrap = privateResolver('127.0.0.1 localhost\n');
    prober = await startServer(['--host', '127.0.0.1', '--probe-targets', 'http://no-such-peer.invalid:8080', ...FAST,
      '--probe-sizes', '1024', '--probe-upload', '10'], { wrap });
    const p = prober;
    await waitFor(() => probeLines(p).length >= 2, 20_000, '2 probe lines');
    const lines = probeLines(p).slice(0, 2);
    for (const l of lines) {
      assert.equal(l.outcome, 'dns');
      assert.equal(l.peer, 'no-such-peer.invalid:8080');
      assert.equal(l.request_id, '-', 'nothing was sent');
    }
    assert.deepEqual(lines.map((l) => l.method).sort(), ['GET', 'POST']);
  });

});
