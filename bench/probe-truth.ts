/**
 * How true are a probe's timings, as a phase of `npm run bench`: the calibration of test/root/probe-truth.test.ts
 * (scripts/wire-truth.ts: a prober and a peer in two network namespaces, tcpdump on the prober's side, each probe
 * line joined to its packets by X-Request-Id) in its three phases, idle, its own server saturated, and that under
 * a 10% CPU quota, each over plain http and over https (the peer behind a TLS 1.2 terminator, lines joined to
 * connections by time), with curl's error on the same path beside. The percentiles of |reported − wire| for connect,
 * ttfb and total, with and without self_ms taken off. Measured only as root with iproute2, tcpdump and curl
 * (the bench goes on without it, saying why); the root tier holds the same figures to its gate (test/root/probe-truth.test.ts).
 * Alone: `node build/bench/probe-truth.js [--quick]` (as root).
 */
import path from 'node:path';
import { calibrate, requireTruthTools, truthTable, TRUTH_TLS_NAME, type TruthPhase } from '../scripts/wire-truth';
import { createCa } from '../test/helpers/test-ca';
import type { Phase } from './phase';

export interface ProbeTruthRow {
  /** Why it was not measured (not root, a tool missing); undefined when it was. */
  skipped?: string;
  seconds: number;
  phases: TruthPhase[];
}

const AUTOCANNON = path.join(__dirname, '..', '..', 'node_modules', 'autocannon', 'autocannon.js');

export async function probeTruthPhase(o: { quick: boolean; main: string; nodeArgv: string[]; env?: NodeJS.ProcessEnv;
  serverCore?: number; peerCore?: number; progress: (s: string) => void; }): Promise<ProbeTruthRow> {
  const seconds = o.quick ? 3 : 30;
  try {
    requireTruthTools();
  } catch (e) {
    return { skipped: e instanceof Error ? e.message : String(e), seconds, phases: [] };
  }
  const ca = createCa('heartbeat hb39 truth CA');
  const leaf = ca.issue([TRUTH_TLS_NAME]);
  const phases = await calibrate({
    main: o.main, nodeArgv: o.nodeArgv, env: o.env, autocannon: AUTOCANNON, seconds, proberCpu: o.serverCore, loadCpu: o.peerCore,
    tls: { ca: ca.cert, key: leaf.key, cert: leaf.cert },
  }, ['idle', 'saturated', 'quota', 'idle https', 'saturated https', 'quota https'], (p) => o.progress(`bench: probe truth, ${p.name}: ${p.row.n} joined`));
  return { seconds, phases };
}

/** The phase of `npm run bench`: the figures under `probeTruth`, one table. */
export const probeTruth: Phase = {
  name: 'probe timings against the wire',
  async run(ctx) {
    const row = await probeTruthPhase({
      quick: ctx.quick, main: ctx.main, nodeArgv: ctx.nodeArgv, env: ctx.env, serverCore: ctx.serverCore, peerCore: ctx.peerCore, progress: ctx.progress,
    });
    return {
      key: 'probeTruth',
      figures: row,
      sections: [{
        id: 'probe-truth',
        caption: row.skipped
          ? `probe timings against the wire: not measured (${row.skipped})`
          : `probe timings against the wire (tcpdump on a veth between two namespaces, ${row.seconds} s a phase, --probe-sizes 1024,65536 every 500 ms; ` +
            'saturated: autocannon, 64 connections, on the prober\'s own port; quota: the same, the prober\'s cgroup at 10% of a CPU; ' +
            'https: the same through a TLS 1.2 terminator in the peer\'s namespace); ' +
            '|reported − wire| in ms, connect / ttfb / total; curl on the same path, idle, for scale',
        table: row.skipped ? '' : truthTable(row.phases),
      }],
    };
  },
};

if (require.main === module) {
  void probeTruthPhase({
    quick: process.argv.includes('--quick'),
    main: path.join(__dirname, '..', '..', 'dist', 'main.js'),
    nodeArgv: [process.execPath],
    serverCore: 0,
    peerCore: 1,
    progress: (s) => process.stderr.write(`${s}\n`),
  }).then((row) => process.stdout.write(`${row.skipped ?? truthTable(row.phases)}\n`));
}
