/**
 * Probe series follow the neighbour set (src/probe/metrics.ts), in process against a real
 * prom-client registry: never reset while a pair stays, dropped FORGET_AFTER_ROUNDS rounds
 * after it leaves, never aged by its target's DNS failing, and last success 0 until the first ok.
 */
import assert from 'node:assert/strict';
import type * as client from 'prom-client';
import { createProbeMetrics, FORGET_AFTER_ROUNDS } from '../src/probe/metrics';
import { scrape } from './helpers/probe';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const prom = require('prom-client') as typeof client;

const T = 'http://heartbeat-peers:8080';
const key = (peer: string): string => `${T}\t${peer}`;
/** The family label each peer's series carry: its address's, `-` for the DNS failure's pseudo-peer (no address). */
const fam = (peer: string): string => (peer.startsWith('[') ? 'ipv6' : /^\d/.test(peer) ? 'ipv4' : '-');
const counter = (peer: string, outcome = 'ok'): string => `heartbeat_probes_total{target="${T}",peer="${peer}",family="${fam(peer)}",method="GET",size="1024",outcome="${outcome}"}`;
const last = (peer: string, target = T): string => `heartbeat_probe_last_success_timestamp_seconds{target="${target}",peer="${peer}",family="${fam(peer)}"}`;

describe('probe metrics follow the neighbour set', () => {
  let registry: client.Registry;
  let m: ReturnType<typeof createProbeMetrics>;
  const read = async (): Promise<Map<string, number>> => scrape(await registry.metrics());
  const round = (peers: string[], outcome: 'ok' | 'refused' = 'ok', unresolved: string[] = []): void => {
    m.begin(new Set(peers.map(key)));
    for (const peer of peers) m.record({ target: T, peer, method: 'GET', size: 1024, outcome, totalMs: 1, tlsMs: 0, selfMs: 0 });
    m.endRound(new Set(peers.map(key)), new Set(unresolved));
  };
  beforeEach(() => {
    registry = new prom.Registry();
    m = createProbeMetrics(registry);
  });

  it('a pair that stays is never reset; one that leaves keeps its series for the documented rounds, then loses them', async () => {
    for (let i = 0; i < 30; i++) round(['10.0.0.1:8080', '10.0.0.2:8080']);
    assert.equal((await read()).get(counter('10.0.0.1:8080')), 30);
    // 10.0.0.2 leaves the set
    for (let i = 1; i < FORGET_AFTER_ROUNDS; i++) {
      round(['10.0.0.1:8080']);
      assert.equal((await read()).get(counter('10.0.0.2:8080')), 30, `kept ${i} rounds after leaving`);
    }
    round(['10.0.0.1:8080']);
    const after = await read();
    assert.equal(after.get(counter('10.0.0.2:8080')), undefined, 'dropped');
    assert.equal(after.get(last('10.0.0.2:8080')), undefined, 'every series of it');
    assert.equal(after.get(counter('10.0.0.1:8080')), 30 + FORGET_AFTER_ROUNDS);
  });

  it('the TLS handshake histogram: one observation per new handshake, none for a reused connection, gone with the pair', async () => {
    const tlsCount = (peer: string): string => `heartbeat_probe_tls_seconds_count{target="${T}",peer="${peer}",family="ipv4"}`;
    m.begin(new Set([key('10.0.0.3:443')]));
    m.record({ target: T, peer: '10.0.0.3:443', method: 'GET', size: 1024, outcome: 'ok', totalMs: 5, tlsMs: 3, selfMs: 0 });
    m.record({ target: T, peer: '10.0.0.3:443', method: 'GET', size: 1024, outcome: 'cert', totalMs: 4, tlsMs: 2.5, selfMs: 0 });
    m.record({ target: T, peer: '10.0.0.3:443', method: 'GET', size: 1024, outcome: 'ok', totalMs: 1, tlsMs: 0, selfMs: 0 });
    m.endRound(new Set([key('10.0.0.3:443')]), new Set());
    const r = await read();
    assert.equal(r.get(tlsCount('10.0.0.3:443')), 2, 'the two handshakes, whatever came after');
    assert.equal(r.get(`heartbeat_probe_tls_seconds_sum{target="${T}",peer="10.0.0.3:443",family="ipv4"}`), 0.0055);
    assert.equal(r.get(counter('10.0.0.3:443', 'cert')), 1);
    for (let i = 0; i < FORGET_AFTER_ROUNDS; i++) round(['10.0.0.1:8080']);
    assert.equal((await read()).get(tlsCount('10.0.0.3:443')), undefined, 'dropped with the pair');
  });

  it("a target's DNS failing evicts none of its pairs, however long, and its dns lines count beside them", async () => {
    round(['10.0.0.1:8080', '10.0.0.2:8080']);
    for (let i = 0; i < 3 * FORGET_AFTER_ROUNDS; i++) {
      m.record({ target: T, peer: 'heartbeat-peers:8080', method: 'GET', size: 1024, outcome: 'dns', totalMs: 0, tlsMs: 0, selfMs: 0 });
      m.endRound(new Set(), new Set([T]));
    }
    const s = await read();
    assert.equal(s.get(counter('10.0.0.1:8080')), 1);
    assert.equal(s.get(counter('10.0.0.2:8080')), 1);
    assert.equal(s.get(counter('heartbeat-peers:8080', 'dns')), 3 * FORGET_AFTER_ROUNDS);
    round(['10.0.0.1:8080', '10.0.0.2:8080']);
    assert.equal((await read()).get(counter('10.0.0.1:8080')), 2, 'resolved again: the same series goes on');
  });

  it("each pair's series carry its address family, as the lines spell it; a DNS failure's pseudo-peer has `-`", async () => {
    round(['10.0.0.1:8080', '[fd00::1]:8080']);
    m.record({ target: T, peer: 'heartbeat-peers:8080', method: 'GET', size: 1024, outcome: 'dns', totalMs: 0, tlsMs: 0, selfMs: 0 });
    const r = await read();
    assert.equal(r.get(`heartbeat_probes_total{target="${T}",peer="10.0.0.1:8080",family="ipv4",method="GET",size="1024",outcome="ok"}`), 1);
    assert.equal(r.get(`heartbeat_probes_total{target="${T}",peer="[fd00::1]:8080",family="ipv6",method="GET",size="1024",outcome="ok"}`), 1);
    assert.equal(r.get(`heartbeat_probes_total{target="${T}",peer="heartbeat-peers:8080",family="-",method="GET",size="1024",outcome="dns"}`), 1);
    assert.ok((r.get(`heartbeat_probe_last_success_timestamp_seconds{target="${T}",peer="[fd00::1]:8080",family="ipv6"}`) ?? 0) > 0);
    assert.equal(r.get(`heartbeat_probe_self_seconds_count{target="${T}",family="ipv4"}`), 1);
    assert.equal(r.get(`heartbeat_probe_self_seconds_count{target="${T}",family="ipv6"}`), 1);
    assert.equal(r.get(`heartbeat_probe_self_seconds_count{target="${T}",family="-"}`), 1);
    // forgotten with its family: nothing of the pair is left
    for (let i = 0; i < FORGET_AFTER_ROUNDS; i++) round(['10.0.0.1:8080']);
    assert.deepEqual([...(await read()).keys()].filter((k) => k.includes('fd00::1')), []);
  });

  it('a neighbour has a last-success series from its first round: 0 until an ok probe, then the time', async () => {
    m.begin(new Set([key('10.0.0.3:8080')]));
    assert.equal((await read()).get(last('10.0.0.3:8080')), 0, 'from the moment it is chosen, before its first probe ends');
    round(['10.0.0.3:8080'], 'refused');
    assert.equal((await read()).get(last('10.0.0.3:8080')), 0);
    const before = Date.now() / 1000;
    round(['10.0.0.3:8080'], 'ok');
    assert.ok(((await read()).get(last('10.0.0.3:8080')) as number) >= before - 1);
    round(['10.0.0.3:8080'], 'refused');
    assert.ok(((await read()).get(last('10.0.0.3:8080')) as number) >= before - 1, 'a failure after does not reset it to 0');
    // the dns pseudo-pair is not a neighbour: no last-success series
    m.record({ target: T, peer: 'heartbeat-peers:8080', method: 'GET', size: 1024, outcome: 'dns', totalMs: 0, tlsMs: 0, selfMs: 0 });
    m.endRound(new Set(), new Set([T]));
    assert.equal((await read()).get(last('heartbeat-peers:8080')), undefined);
  });
});
