/**
 * A resolver that never answers does not starve the other targets: the prober's private
 * resolv.conf (a mount namespace: root and unshare) names a DNS server on loopback
 * (127.0.0.77:53) that swallows every query, with options under which getaddrinfo would hold
 * a libuv thread for minutes a lookup. Five targets' names hang there every round; a
 * sixth, localhost, is in the private /etc/hosts and must be ok every round (the issue's
 * report: `dns` on 17 of 17 rounds). npm run test:root.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { privateResolverFiles, probeLines } from '../helpers/probe';
import { kill, startServer, waitFor, type Running } from '../helpers/server';

describe('probe mode: a DNS server that never answers (the prober with a resolver of its own)', function () {
  this.timeout(60_000);
  let hole: dgram.Socket | undefined;
  let queries = 0;
  const running: Running[] = [];
  before(async () => {
    hole = dgram.createSocket('udp4');
    hole.on('message', () => { queries++; }); // never answered
    await new Promise<void>((resolve, reject) => { hole!.once('error', reject); hole!.bind(53, '127.0.0.77', resolve); });
  });
  after(() => {
    for (const r of running) kill(r);
    hole?.close();
  });

  it('a healthy name is ok every round while five others hang on the resolver', async () => {
    const { wrap } = privateResolverFiles('127.0.0.1 localhost\n', 'nameserver 127.0.0.77\noptions timeout:30 attempts:5\n');
    const peer = await startServer(['--host', '127.0.0.1']);
    running.push(peer);
    const hung = Array.from({ length: 5 }, (_, i) => `http://hang${i}.test:${peer.port}`);
    const healthy = `http://localhost:${peer.port}`;
    const prober = await startServer(['--host', '127.0.0.1', '--probe-targets', [...hung, healthy].join(','), '--probe-interval', '1000',
      '--probe-timeout', '800', '--probe-sizes', '1024'], { wrap });
    running.push(prober);
    await waitFor(() => probeLines(prober).filter((l) => l.target === healthy).length >= 10, 40_000, '10 rounds of localhost');
    const lines = probeLines(prober);
    const mine = lines.filter((l) => l.target === healthy);
    assert.deepEqual(mine.map((l) => l.outcome), new Array(mine.length).fill('ok'), `localhost ok in every round: ${mine.map((l) => l.outcome).join(',')}`);
    const others = lines.filter((l) => l.target !== healthy);
    assert.ok(others.length >= 5 * 9, `the hanging names were tried every round: ${others.length} lines`);
    assert.ok(others.every((l) => l.outcome === 'dns'), 'each hanging name is dns');
    assert.ok(queries >= 5 * 9, `queries reached the silent server: ${queries}`);
  });
});
