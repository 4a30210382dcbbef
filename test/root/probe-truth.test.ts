/**
 * How true are a probe's timings (npm run test:root): a prober heartbeat and a peer heartbeat in two
 * network namespaces joined by a veth (test/helpers/wire-truth.ts), tcpdump on the prober's side, every
 * ok probe line joined to its packets by its X-Request-Id and held against the wire (connect = SYN ->
 * SYN-ACK, ttfb = last request byte -> first answer byte, total = SYN -> last answer byte), in three
 * phases:
 *   idle       the prober does nothing else                        p99 |reported − wire| ≤ 0.5 ms
 *   saturated  a load generator (64 connections) on its own port   p99 |reported − wire| ≤ 1 ms
 *   quota      the same, its cgroup held to 10% of a CPU           p99 |total − self_ms − wire| ≤ 5 ms
 * and, in every phase, what self_ms does not account for: p99 |reported − self_ms − wire| ≤ 1 ms (each
 * phase of a probe less at most the self_ms of the whole probe). The prober is pinned to CPU 0, the load
 * generator to CPU 1 (the setup of the trial). The table it prints is docs/probe.md's
 * "How true are the numbers".
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { makeScratch, removeScratch } from '../../scripts/scratch';
import { kill, ROOT, NODE, sleep, startServer, type Running } from '../helpers/server';
import {
  createQuota, createTruthNet, curlRuns, errorRow, join, readPcap, requireTruthTools, startCapture, triple, TRUTH_ADDR, wireTimings,
  type ErrorRow, type Quota, type Reported, type TruthNet,
} from '../helpers/wire-truth';

const PORT = 18039;
const PEER_URL = `http://${TRUTH_ADDR.peer}:${PORT}`;
/** Seconds each phase probes (4 probes a second: 1 KiB and 64 KiB every 500 ms). */
const SECONDS = Number(process.env.HB_TRUTH_SECONDS ?? 30);
const THRESHOLDS = { idle: 0.5, saturated: 1, quotaTotalLessSelf: 5, lessSelf: 1 };

interface Phase { name: 'idle' | 'saturated' | 'quota'; row: ErrorRow; lines: number }

describe('probe timings against the wire (tcpdump between namespaces)', function () {
  this.timeout(600_000);
  let net: TruthNet | undefined;
  let peer: Running | undefined;
  let prober: Running | undefined;
  let load: ChildProcess | undefined;
  let quota: Quota | undefined;
  let dir = '';
  const phases: Phase[] = [];
  let curl: ErrorRow | undefined;

  before(async () => {
    requireTruthTools(); // fails at once, naming root, iproute2, tcpdump and curl, where they are missing
    dir = makeScratch('heartbeat-truth-');
    net = createTruthNet();
    peer = await startServer(['--host', TRUTH_ADDR.peer], { port: PORT, wrap: ['taskset', '-c', '1', 'ip', 'netns', 'exec', net.peer] });
  });
  after(() => {
    kill(prober);
    if (load && load.exitCode === null) load.kill('SIGKILL');
    kill(peer);
    quota?.remove();
    net?.remove();
    if (dir) removeScratch(dir);
    const out = ['', '| phase | probes | p99 \\|reported − wire\\| connect / ttfb / total (ms) | p50 | p99 less self_ms | p99 self_ms |', '| --- | --- | --- | --- | --- | --- |'];
    for (const p of phases) {
      out.push(`| ${p.name} | ${p.row.n} | ${triple(p.row.p99)} | ${triple(p.row.p50)} | ${triple(p.row.p99Self)} | ${p.row.selfP99.toFixed(3)} |`);
    }
    if (curl) out.push(`| curl, idle | ${curl.n} | ${triple(curl.p99)} | ${triple(curl.p50)} | | |`);
    process.stdout.write(`${out.join('\n')}\n\n`);
  });

  /** Starts a load generator on the prober's own port (64 connections), pinned to CPU 1. */
  const startLoad = (): ChildProcess => {
    const p = spawn('taskset', ['-c', '1', 'ip', 'netns', 'exec', (net as TruthNet).prober, NODE,
      path.join(ROOT, 'node_modules', 'autocannon', 'autocannon.js'), '-c', '64', '-d', String(SECONDS + 20), '--json',
      `http://${TRUTH_ADDR.prober}:${PORT}/heartbeat/1024`], { stdio: 'ignore' });
    return p;
  };

  const runPhase = async (name: Phase['name']): Promise<Phase> => {
    const n = net as TruthNet;
    const capture = await startCapture(n, PORT, path.join(dir, `${name}.pcap`));
    if (name !== 'idle') {
      load = startLoad();
      await sleep(2000); // the load at full speed before the first probe
    }
    if (name === 'quota') quota = createQuota(`hb39-truth-${process.pid}`, 10);
    prober = await startServer(['--host', TRUTH_ADDR.prober, '--log-format', 'json', '--probe-targets', PEER_URL,
      '--probe-sizes', '1024,65536', '--probe-interval', '500', '--probe-timeout', '500', '--probe-mtu-probes', '0'],
    { port: PORT, wrap: [...(quota?.wrap ?? []), 'taskset', '-c', '0', 'ip', 'netns', 'exec', n.prober] });
    await sleep(SECONDS * 1000);
    await prober.stop('SIGTERM');
    if (load) {
      load.kill('SIGKILL');
      load = undefined;
    }
    await capture.stop();
    quota?.remove();
    quota = undefined;
    const reported = prober.lines.filter((l) => l.startsWith('{"time"') && l.includes('"kind":"probe"'))
      .map((l) => JSON.parse(l) as Reported & { outcome: string }).filter((l) => l.outcome === 'ok');
    const wire = wireTimings(readPcap(capture.file), TRUTH_ADDR.peer, PORT);
    const joined = join(reported, wire);
    const phase: Phase = { name, row: errorRow(joined), lines: reported.length };
    phases.push(phase);
    assert.ok(joined.length >= reported.length * 0.95, `${name}: ${joined.length} of ${reported.length} ok probe lines found on the wire`);
    assert.ok(joined.length >= SECONDS * 2, `${name}: ${joined.length} probes joined`);
    return phase;
  };

  it('curl on the same path, idle, for scale (its error is the floor of a userspace client)', async () => {
    const n = net as TruthNet;
    const capture = await startCapture(n, PORT, path.join(dir, 'curl.pcap'));
    const runs = await curlRuns(n, `${PEER_URL}/heartbeat/1024`, 100, 50);
    await capture.stop();
    curl = errorRow(join(runs, wireTimings(readPcap(capture.file), TRUTH_ADDR.peer, PORT)));
    assert.ok(curl.n >= 95, `${curl.n} curl runs joined`);
  });

  it(`idle: p99 |reported − wire| ≤ ${THRESHOLDS.idle} ms for connect, ttfb and total`, async () => {
    const { row } = await runPhase('idle');
    for (const k of ['connect', 'ttfb', 'total'] as const) {
      assert.ok(row.p99[k] <= THRESHOLDS.idle, `idle ${k}: p99 ${row.p99[k].toFixed(3)} ms (${triple(row.p99)})`);
      assert.ok(row.p99Self[k] <= THRESHOLDS.lessSelf, `idle ${k} less self_ms: p99 ${row.p99Self[k].toFixed(3)} ms`);
    }
  });

  it(`its own server saturated: p99 |reported − wire| ≤ ${THRESHOLDS.saturated} ms`, async () => {
    const { row } = await runPhase('saturated');
    for (const k of ['connect', 'ttfb', 'total'] as const) {
      assert.ok(row.p99[k] <= THRESHOLDS.saturated, `saturated ${k}: p99 ${row.p99[k].toFixed(3)} ms (${triple(row.p99)})`);
      assert.ok(row.p99Self[k] <= THRESHOLDS.lessSelf, `saturated ${k} less self_ms: p99 ${row.p99Self[k].toFixed(3)} ms`);
    }
  });

  it(`saturated under a 10% CPU quota: p99 |total − self_ms − wire| ≤ ${THRESHOLDS.quotaTotalLessSelf} ms`, async () => {
    const { row } = await runPhase('quota');
    assert.ok(row.p99Self.total <= THRESHOLDS.quotaTotalLessSelf, `quota total less self_ms: p99 ${row.p99Self.total.toFixed(3)} ms (raw ${triple(row.p99)})`);
    assert.ok(row.selfP99 > THRESHOLDS.lessSelf, `a starved prober says so: p99 self_ms ${row.selfP99.toFixed(3)} ms`);
  });
});
