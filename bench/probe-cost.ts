/**
 * The probe-mode cost at fleet scale (#26): one heartbeat probing K = 64 neighbours every
 * 10 s (probeSizes' default 1 KiB and 64 KiB each, new connections), beside a reference
 * heartbeat that does not probe, both with --metrics, both idle otherwise, side by side on
 * the server core; the 64 peers (bench/peers.ts) on the load core. Measured over whole
 * probe intervals (the end of one round to the end of the round `intervals` later): the CPU the prober used beyond the reference (as a share of one core,
 * and per round), and the memory of each at the end (VmHWM, RssAnon from /proc).
 *
 *   node build/bench/probe-cost.js [--quick]     (npm run bench runs it as one phase)
 */
import path from 'node:path';
import { procMemory } from './memory';
import { standalone, type FleetOptions, type Phase } from './phase';
import { metricsText } from './scrape';
import { pinned, startServer, type ServerProc } from './procs';
import { markdownTable, mib, pct } from './table';

export const PROBE_COST = { peers: 64, intervalMs: 10_000, intervals: 3, quickIntervalMs: 1000, quickIntervals: 2 };
/** What one round logs: a line per peer and size (the default 1 KiB and 64 KiB). */
const LINES_PER_ROUND = PROBE_COST.peers * 2;

export interface ProbeCostRow {
  peers: number;
  intervalMs: number;
  /** Rounds completed inside the measured window (from the probe lines logged in it). */
  rounds: number;
  windowSeconds: number;
  /** CPU of the prober beyond the reference's, as a share of one core over the window. */
  cpuShare: number;
  /** The same, milliseconds of CPU per round. */
  cpuMsPerRound: number;
  /** Probes the prober counted (heartbeat_probes_total), and those that did not end ok: the row is void unless 0. */
  probes: number;
  notOk: number;
  prober: { hwm: number; anon: number; rss: number };
  reference: { hwm: number; anon: number; rss: number };
}


const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The prober's probe counters from its /metrics: all of them, and those whose outcome is not ok. */
async function outcomes(port: number): Promise<{ probes: number; notOk: number }> {
  const text = await metricsText(port);
  let probes = 0;
  let notOk = 0;
  for (const m of text.matchAll(/^heartbeat_probes_total\{[^}]*outcome="([a-z_]+)"\} ([0-9.e+]+)$/gm)) {
    probes += Number(m[2]);
    if (m[1] !== 'ok') notOk += Number(m[2]);
  }
  return { probes, notOk };
}

export async function probeCostPhase(o: FleetOptions): Promise<ProbeCostRow> {
  const intervalMs = o.quick ? PROBE_COST.quickIntervalMs : PROBE_COST.intervalMs;
  const intervals = o.quick ? PROBE_COST.quickIntervals : PROBE_COST.intervals;
  let ports = '';
  const peers = await startServer(`${PROBE_COST.peers} probe peers`, pinned(o.peerCore, [process.execPath, path.join(__dirname, 'peers.js'),
    String(PROBE_COST.peers)]), 0, /^listening ([0-9,]+)$/m, undefined, (head) => { ports = /^listening ([0-9,]+)$/m.exec(head)?.[1] ?? ''; });
  const targets = ports.split(',').map((p) => `http://127.0.0.1:${p}`).join(',');
  const start = async (name: string, args: string[]): Promise<ServerProc> => {
    const port = await o.freePort();
    return startServer(name, pinned(o.serverCore, [...o.nodeArgv, o.main, '--host', '127.0.0.1', '--port', String(port), '--metrics', ...args]),
      port, /\blifecycle\b.*\blistening\b/, o.env);
  };
  const reference = await start('heartbeat (not probing)', []);
  const prober = await start(`heartbeat probing ${PROBE_COST.peers}`, ['--probe-targets', targets, '--probe-max-peers', String(PROBE_COST.peers),
    '--probe-interval', String(intervalMs), '--probe-timeout', String(Math.min(5000, intervalMs))]);
  try {
    // the first round (cold: every module and buffer warmed) is not measured
    const startup = prober.lines();
    for (let t = 0; prober.lines() < startup + LINES_PER_ROUND; t += 100) {
      if (t > intervalMs * 3) throw new Error(`the prober did not finish a round of ${PROBE_COST.peers} peers in ${intervalMs * 3} ms`);
      await sleep(100);
    }
    const [p0, r0, l0, t0] = [prober.cpuNs() ?? NaN, reference.cpuNs() ?? NaN, prober.lines(), performance.now()];
    o.progress(`probe cost: measuring ${intervals} intervals of ${intervalMs} ms, ${PROBE_COST.peers} peers`);
    // from the end of one round to the end of the round `intervals` later: whole rounds and the idle time between
    for (let t = 0; prober.lines() < l0 + intervals * LINES_PER_ROUND; t += 20) {
      if (t > intervals * intervalMs * 2) throw new Error(`the prober did not finish ${intervals} rounds in ${intervals * intervalMs * 2} ms`);
      await sleep(20);
    }
    await sleep(50); // the last lines of the round are logged as its probes end; let the round finish
    const [p1, r1, l1, t1] = [prober.cpuNs() ?? NaN, reference.cpuNs() ?? NaN, prober.lines(), performance.now()];
    const extraMs = ((p1 - p0) - (r1 - r0)) / 1e6;
    const rounds = Math.round((l1 - l0) / LINES_PER_ROUND);
    const mem = (s: ServerProc): ProbeCostRow['prober'] => {
      const m = procMemory(s.pid);
      return { hwm: m?.hwm ?? NaN, anon: m?.anon ?? NaN, rss: m?.rss ?? NaN };
    };
    const row: ProbeCostRow = {
      peers: PROBE_COST.peers,
      intervalMs,
      rounds,
      windowSeconds: (t1 - t0) / 1000,
      cpuShare: extraMs / (t1 - t0),
      cpuMsPerRound: rounds > 0 ? extraMs / rounds : NaN,
      ...await outcomes(prober.port),
      prober: mem(prober),
      reference: mem(reference),
    };
    if (row.notOk > 0) o.progress(`probe cost: WARNING ${row.notOk} of ${row.probes} probes did not end ok`);
    o.progress(`probe cost: ${rounds} rounds, ${(row.cpuShare * 100).toFixed(2)}% of a core, ${row.cpuMsPerRound.toFixed(1)} ms CPU a round`);
    return row;
  } finally {
    await prober.stop();
    await reference.stop();
    await peers.stop();
  }
}

/** The phase of `npm run bench`: the figures under `probeCost` in the results, one table. */
export const probeCost: Phase = {
  name: 'probe cost at K = 64',
  async run(ctx) {
    const pc = await probeCostPhase(ctx);
    return {
      key: 'probeCost',
      figures: pc,
      sections: [{
        id: 'probe-cost',
        caption: `probe mode at fleet scale: one heartbeat probing K = ${pc.peers} neighbours every ${pc.intervalMs / 1000} s (1 KiB and 64 KiB each, ` +
          'new connections, --metrics), beside one that does not probe, both otherwise idle; MiB from /proc/PID/status at the end',
        table: markdownTable(['rounds measured', 'CPU beyond the reference', 'CPU ms per round', 'probes not ok', 'prober VmHWM', 'prober RssAnon',
          'reference VmHWM', 'reference RssAnon'], [[String(pc.rounds), pct(pc.cpuShare), pc.cpuMsPerRound.toFixed(1), `${pc.notOk} of ${pc.probes}`,
          mib(pc.prober.hwm), mib(pc.prober.anon), mib(pc.reference.hwm), mib(pc.reference.anon)]]),
      }],
    };
  },
};

if (require.main === module) standalone(probeCostPhase);
