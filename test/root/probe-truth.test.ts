/**
 * How true are a probe's timings (npm run test:root): a prober heartbeat and a peer heartbeat in two
 * network namespaces joined by a veth, tcpdump on the prober's side, every ok probe line joined to its
 * packets by its X-Request-Id and held against the wire (connect = SYN -> SYN-ACK, ttfb = last request
 * byte -> first answer byte, total = SYN -> last answer byte; scripts/wire-truth.ts), in three phases:
 *   idle       the prober does nothing else                          p99 |reported − wire| ≤ 0.5 ms
 *   saturated  a load generator (64 connections) on its own port     p99 |reported − wire| ≤ 1 ms
 *   quota      the same, its cgroup held to 10% of a CPU (v1 CFS)    p99 |total − self_ms − wire| ≤ 5 ms
 * and, where a p99 proves out of reach for Node (the issue's fallback), self_ms accounting for the rest:
 * p99 |reported − self_ms − wire| ≤ 1 ms (connect and ttfb: less at most self_ms, whose phase is unknown).
 * The same three phases again with the peer behind TLS 1.2 (a TLS terminator in the peer's namespace, a test CA
 * the prober is given with --probe-tls-ca, the certificate's name sent as host=): the request id is encrypted
 * there, so each line is joined to its connection by time (its start, SYN within 250 ms, of its size class, an
 * ambiguous join fails the phase); wire: connect = SYN -> SYN-ACK, ttfb = the request's application-data record ->
 * the answer's first, total = SYN -> the last answer byte (scripts/wire-truth.ts tlsWireTimings), same thresholds,
 * idle and saturated (under the quota the handshake waits for the throttled prober on the wire itself: a bench figure).
 * The prober is pinned to CPU 0, the load generator and the peer to CPU 1 (the issue's trial). curl on
 * the same path is measured first, for scale. The table it prints is docs/probe.md's "How true are the
 * numbers". HB_TRUTH_SECONDS: seconds per phase (default 30).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { calibrate, triple, truthTable, TRUTH_TLS_NAME, type TruthPhase } from '../../scripts/wire-truth';
import { MAIN, NODE, ROOT } from '../helpers/server';
import { createCa } from '../helpers/test-ca';

const SECONDS = Number(process.env.HB_TRUTH_SECONDS ?? 30);
const THRESHOLDS = { idle: 0.5, saturated: 1, quotaTotalLessSelf: 5, lessSelf: 1 };

describe('probe timings against the wire (tcpdump between namespaces)', function () {
  this.timeout(900_000);
  const phases = new Map<string, TruthPhase>();

  before(async () => {
    const ca = createCa('heartbeat hb39 truth CA');
    const leaf = ca.issue([TRUTH_TLS_NAME]);
    await calibrate({
      main: MAIN, nodeArgv: [NODE], autocannon: path.join(ROOT, 'node_modules', 'autocannon', 'autocannon.js'),
      seconds: SECONDS, proberCpu: 0, loadCpu: 1, tls: { ca: ca.cert, key: leaf.key, cert: leaf.cert },
    }, ['idle', 'saturated', 'quota', 'idle https', 'saturated https'], (p) => { phases.set(p.name, p); });
    process.stdout.write(`\n${truthTable([...phases.values()])}\n\n`);
  });

  const phase = (name: string): TruthPhase => {
    const p = phases.get(name);
    assert.ok(p, `phase ${name} ran`);
    assert.ok(p.row.n >= p.lines * 0.9 && p.row.n >= SECONDS, `${name}: ${p.row.n} of ${p.lines} ok lines (curl runs) found on the wire`);
    assert.equal(p.ambiguous ?? 0, 0, `${name}: ${p.ambiguous} lines joined to more than one connection`);
    return p;
  };

  it('curl on the same path, for scale: every run found on the wire', () => {
    phase('curl');
  });

  /**
   * The issue's gate per phase: p99 |reported − wire| within `limit`; where Node on a shared core cannot reach
   * it (measured: connect 0.94 ms idle, ttfb 1.3 ms saturated on a quiet 2-core machine), self_ms must account
   * for the rest: p99 |reported − self_ms − wire| ≤ 1 ms (the issue's own fallback). Either holds, for each of
   * connect, ttfb and total; the message says which missed by how much.
   */
  const gate = (name: string, limit: number): void => {
    const { row } = phase(name);
    for (const k of ['connect', 'ttfb', 'total'] as const) {
      assert.ok(row.p99[k] <= limit || row.p99Self[k] <= THRESHOLDS.lessSelf,
        `${name} ${k}: p99 ${row.p99[k].toFixed(3)} ms > ${limit} and, less self_ms, ${row.p99Self[k].toFixed(3)} ms > ${THRESHOLDS.lessSelf} ` +
        `(${triple(row.p99)}; less self_ms ${triple(row.p99Self)})`);
    }
  };

  for (const tls of ['', ' https']) {
    const scheme = tls ? 'https' : 'http';
    it(`${scheme}, idle: p99 |reported − wire| ≤ ${THRESHOLDS.idle} ms, or ≤ ${THRESHOLDS.lessSelf} ms less self_ms, for connect, ttfb and total`, () => gate(`idle${tls}`, THRESHOLDS.idle));

    it(`${scheme}, its own server saturated: p99 |reported − wire| ≤ ${THRESHOLDS.saturated} ms, or ≤ ${THRESHOLDS.lessSelf} ms less self_ms`, () => gate(`saturated${tls}`, THRESHOLDS.saturated));

    // https under the quota is a figure of the bench (bench/probe-truth.ts), not gated: the TLS handshake needs the
    // prober's CPU between its packets, so a throttled prober delays the wire itself (docs/probe.md, "https")
    if (!tls) it(`${scheme}, saturated under a 10% CPU quota: p99 |total − self_ms − wire| ≤ ${THRESHOLDS.quotaTotalLessSelf} ms, and self_ms says it was starved`, () => {
      const name = `quota${tls}`;
      const { row } = phase(name);
      assert.ok(row.p99Self.total <= THRESHOLDS.quotaTotalLessSelf, `${name} total less self_ms: p99 ${row.p99Self.total.toFixed(3)} ms (raw ${triple(row.p99)})`);
      for (const k of ['connect', 'ttfb'] as const) {
        assert.ok(row.p99[k] <= THRESHOLDS.saturated || row.p99Self[k] <= THRESHOLDS.lessSelf, `${name} ${k}: p99 ${row.p99[k].toFixed(3)}, less self_ms ${row.p99Self[k].toFixed(3)} ms`);
      }
      assert.ok(row.selfP99 >= 5, `a starved prober says so: p99 self_ms ${row.selfP99.toFixed(3)} ms`);
    });
  }
});
