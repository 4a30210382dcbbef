/**
 * Bounded, cancellable name resolution (src/probe/dns.ts), against DNS servers on loopback
 * (test/helpers/loopback-dns.ts): one that never answers, one that answers from a table.
 * A hanging resolver holds no libuv thread, leaves no query running past the deadline, and
 * never makes a healthy target read `dns`.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { candidates, createBoundedLookup, hostsAddresses, parseResolvConf } from '../src/probe/dns';
import { createLogger } from '../src/log/logger';
import { createRounds } from '../src/probe/round';
import { parseTarget } from '../src/probe/settings';
import { startLoopbackDns, type LoopbackDns } from './helpers/loopback-dns';
import { kill, sleep, startServer, type Running } from './helpers/server';
import { makeScratch, removeScratch } from '../scripts/scratch';

const dir = makeScratch('heartbeat-dns-');
const file = (name: string, text: string): string => {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
};

describe('probe name resolution: bounded and cancellable', function () {
  this.timeout(60_000);
  const servers: LoopbackDns[] = [];
  after(async () => {
    for (const s of servers) await s.close();
    removeScratch(dir);
  });

  it('reads /etc/hosts as getaddrinfo does: every line naming the host, any case, comments and zone ids aside', () => {
    const hosts = '# comment\n127.0.0.1 localhost\n::1 localhost ip6-localhost # both\n10.0.0.1\tPeers.test peers\n10.0.0.2 peers.test\nfe80::1%eth0 peers.test\nnot-an-ip peers.test\n';
    assert.deepEqual(hostsAddresses(hosts, 'peers.test'), ['10.0.0.1', '10.0.0.2', 'fe80::1']);
    assert.deepEqual(hostsAddresses(hosts, 'LOCALHOST.'), ['127.0.0.1', '::1']);
    assert.deepEqual(hostsAddresses(hosts, 'other'), []);
  });

  it("applies resolv.conf's search list and ndots as glibc does", () => {
    const k8s = parseResolvConf('nameserver 10.96.0.10\nsearch hb.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5 timeout:1\n');
    assert.deepEqual(k8s, { search: ['hb.svc.cluster.local', 'svc.cluster.local', 'cluster.local'], ndots: 5 });
    assert.deepEqual(candidates('peers', k8s), ['peers.hb.svc.cluster.local', 'peers.svc.cluster.local', 'peers.cluster.local', 'peers']);
    assert.deepEqual(candidates('a.b.c.d.e.f', k8s)[0], 'a.b.c.d.e.f', 'five dots: as it is first');
    assert.deepEqual(candidates('peers.example.', k8s), ['peers.example'], 'a final dot: only as it is');
    assert.deepEqual(parseResolvConf('domain example.org\n'), { search: ['example.org'], ndots: 1 });
    assert.deepEqual(candidates('a.b', parseResolvConf('search x\n')), ['a.b', 'a.b.x']);
  });

  it('resolves through DNS (A and AAAA), the search list applied, when /etc/hosts does not know the name', async () => {
    const answering = await startLoopbackDns({ 'peers.ns.svc.test': ['10.1.0.1', '10.1.0.2', 'fd00::1'] });
    servers.push(answering);
    const lookup = createBoundedLookup({ hostsFile: file('hosts', '127.0.0.1 localhost\n'), resolvConf: file('resolv.conf', 'search ns.svc.test svc.test\noptions ndots:2\n'), servers: [answering.server] });
    assert.deepEqual((await lookup('peers', 2000)).sort(), ['10.1.0.1', '10.1.0.2', 'fd00::1']);
    assert.deepEqual(answering.queries.sort(), ['A peers.ns.svc.test', 'AAAA peers.ns.svc.test']);
    assert.deepEqual(await lookup('localhost', 2000), ['127.0.0.1'], '/etc/hosts first: no query');
    assert.equal(answering.queries.length, 2);
    await assert.rejects(lookup('nobody', 2000), (e: NodeJS.ErrnoException) => ['ENOTFOUND', 'ENODATA'].includes(e.code ?? ''));
    assert.ok(answering.queries.includes('A nobody.svc.test') && answering.queries.includes('A nobody'), answering.queries.join(','));
  });

  it('a resolver that never answers: the lookup ends at its deadline, holds no thread meanwhile, and no query follows it', async () => {
    const hole = await startLoopbackDns(null);
    servers.push(hole);
    const lookup = createBoundedLookup({ hostsFile: file('hosts2', ''), resolvConf: file('resolv2.conf', ''), servers: [hole.server] });
    // more hanging lookups than libuv has threads (4), then work that needs the thread pool
    const hanging = Array.from({ length: 8 }, (_, i) => lookup(`hang${i}.test`, 1500).then(() => 'answered', (e: NodeJS.ErrnoException) => e.code));
    await sleep(100);
    assert.ok(hole.queries.length >= 8, `the queries were sent: ${hole.queries.length}`);
    const pool = await Promise.race([
      Promise.all(Array.from({ length: 4 }, () => new Promise<void>((r, j) => crypto.pbkdf2('x', 'y', 1, 32, 'sha256', (e) => (e ? j(e) : r()))))).then(() => 'pool free'),
      sleep(1400).then(() => 'pool busy'),
    ]);
    assert.equal(pool, 'pool free', 'four thread-pool jobs ran while eight lookups hung');
    assert.deepEqual(await Promise.all(hanging), new Array(8).fill('ETIMEOUT'));
    await sleep(300); // queries sent just before the deadline reach the server (this process) after it
    const sent = hole.queries.length;
    await sleep(2000); // past every retry c-ares would have made (tries 2, 750 ms first timeout, doubling)
    assert.equal(hole.queries.length, sent, 'no query (no retry) after the deadline');
  });

  it("a round: a healthy target is ok every round while other targets' resolver hangs", async () => {
    const hole = await startLoopbackDns(null);
    servers.push(hole);
    let peer: Running | undefined;
    try {
      peer = await startServer(['--host', '127.0.0.1']);
      const lookup = createBoundedLookup({ hostsFile: file('hosts3', '127.0.0.1 healthy.test\n'), resolvConf: file('resolv3.conf', ''), servers: [hole.server] });
      const out = new PassThrough();
      const lines: string[] = [];
      out.on('data', (c: Buffer) => lines.push(...c.toString().split('\n').filter((l) => l !== '')));
      const logger = createLogger({ format: 'tsv', requests: false, out, err: new PassThrough() });
      const targets = [...Array.from({ length: 6 }, (_, i) => `http://hang${i}.test:${peer!.port}`), `http://healthy.test:${peer.port}`].map(parseTarget);
      const rounds = createRounds({
        targets, sizes: [1024], upload: 0, timeoutMs: 800, maxPeers: 64, intervalMs: 0, userAgent: 't', own: { addresses: new Set(), port: 1 },
        selfKey: 'prober:1', lookup, logger,
      });
      for (let i = 0; i < 5; i++) {
        await rounds.run();
        await rounds.idle();
      }
      await logger.close();
      const probes = lines.map((l) => l.split('\t')).filter((c) => c[1] === 'probe');
      const healthy = probes.filter((c) => c[2] === `http://healthy.test:${peer!.port}`);
      assert.deepEqual(healthy.map((c) => c[7]), ['ok', 'ok', 'ok', 'ok', 'ok'], 'healthy.test ok in each of 5 rounds');
      const hung = probes.filter((c) => c[2]?.startsWith('http://hang'));
      assert.equal(hung.length, 30);
      assert.ok(hung.every((c) => c[7] === 'dns'), 'every hanging name is dns');
    } finally {
      kill(peer);
    }
  });
});
