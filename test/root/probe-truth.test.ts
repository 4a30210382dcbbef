/**
 * How true are a probe's timings (npm run test:root): a prober heartbeat and a peer heartbeat in two
 * network namespaces joined by a veth, tcpdump on the prober's side, every ok probe line joined to its
 * packets by its X-Request-Id and held against the wire (connect = SYN -> SYN-ACK, ttfb = last request
 * byte -> first answer byte, total = SYN -> last answer byte; scripts/wire-truth.ts), in three phases:
 *   idle       the prober does nothing else                          p99 |reported − wire| ≤ 0.5 ms
 *   saturated  a load generator (64 connections) on its own port     p99 |reported − wire| ≤ 1 ms
 *   quota      the same, its cgroup held to 10% of a CPU (v1 CFS)    p99 |total − self_ms − wire| ≤ 5 ms
 * The prober is pinned to CPU 0, the load generator and the peer to CPU 1 (the trial). curl on
 * the same path is measured first, for scale. The table it prints is docs/probe.md's "How true are the
 * numbers". HB_TRUTH_SECONDS: seconds per phase (default 30).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { calibrate, triple, truthTable, type TruthPhase } from '../../scripts/wire-truth';
import { MAIN, NODE, ROOT } from '../helpers/server';

const SECONDS = Number(process.env.HB_TRUTH_SECONDS ?? 30);
const THRESHOLDS = { idle: 0.5, saturated: 1, quotaTotalLessSelf: 5 };

describe('probe timings against the wire (tcpdump between namespaces)', function () {
  this.timeout(900_000);
  const phases = new Map<string, TruthPhase>();

  before(async () => {
    await calibrate({
      main: MAIN, nodeArgv: [NODE], autocannon: path.join(ROOT, 'node_modules', 'autocannon', 'autocannon.js'),
      seconds: SECONDS, proberCpu: 0, loadCpu: 1,
    }, ['idle', 'saturated', 'quota'], (p) => { phases.set(p.name, p); });
    process.stdout.write(`\n${truthTable([...phases.values()])}\n\n`);
  });

  const phase = (name: string): TruthPhase => {
    const p = phases.get(name);
    assert.ok(p, `phase ${name} ran`);
    assert.ok(p.row.n >= p.lines * 0.9 && p.row.n >= SECONDS, `${name}: ${p.row.n} of ${p.lines} ok lines (curl runs) found on the wire`);
    return p;
  };

  it('curl on the same path, for scale: every run found on the wire', () => {
    phase('curl');
  });

  it(`idle: p99 |reported − wire| ≤ ${THRESHOLDS.idle} ms for connect, ttfb and total`, () => {
    const { row } = phase('idle');
    for (const k of ['connect', 'ttfb', 'total'] as const) {
      assert.ok(row.p99[k] <= THRESHOLDS.idle, `idle ${k}: p99 ${row.p99[k].toFixed(3)} ms (${triple(row.p99)}; less self_ms ${triple(row.p99Self)})`);
    }
  });

  it(`its own server saturated: p99 |reported − wire| ≤ ${THRESHOLDS.saturated} ms`, () => {
    const { row } = phase('saturated');
    for (const k of ['connect', 'ttfb', 'total'] as const) {
      assert.ok(row.p99[k] <= THRESHOLDS.saturated, `saturated ${k}: p99 ${row.p99[k].toFixed(3)} ms (${triple(row.p99)}; less self_ms ${triple(row.p99Self)})`);
    }
  });

  it(`saturated under a 10% CPU quota: p99 |total − self_ms − wire| ≤ ${THRESHOLDS.quotaTotalLessSelf} ms, and self_ms says it was starved`, () => {
    const { row } = phase('quota');
    assert.ok(row.p99Self.total <= THRESHOLDS.quotaTotalLessSelf, `quota total less self_ms: p99 ${row.p99Self.total.toFixed(3)} ms (raw ${triple(row.p99)})`);
    assert.ok(row.selfP99 >= 5, `a starved prober says so: p99 self_ms ${row.selfP99.toFixed(3)} ms`);
  });
});
