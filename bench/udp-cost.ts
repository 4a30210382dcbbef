/**
 * The UDP probe's cost (#35): one heartbeat probing K = 64 neighbours every 10 s with probeUdp 20
 * (1,280 echo datagrams a round, spaced over 5 s), beside one probing the same 64 with probeUdp 0,
 * side by side on the server core, both with --metrics; the 64 peers are heartbeat's own echo
 * responders in one process (bench/udp-peers.ts) on the load core. Their TCP ports are closed, so
 * both probers' TCP probes end `refused` alike and the difference is the UDP probe alone. Measured
 * over whole intervals: the prober's CPU beyond the other's (share of a core, per round, and per
 * 1,000 echo datagrams sent), the responders' CPU per 1,000 datagrams answered, datagrams lost
 * (0 on loopback, or the row is void), and the memory of both probers at the end.
 *
 *   node build/bench/udp-cost.js [--quick]     (npm run bench runs it as one phase)
 */
import path from 'node:path';
import { procMemory } from './memory';
import { standalone, type FleetOptions, type Phase } from './phase';
import { metricsText } from './scrape';
import { pinned, startServer, type ServerProc } from './procs';
import { markdownTable, mib, pct } from './table';

export const UDP_COST = { peers: 64, datagrams: 20, intervalMs: 10_000, intervals: 3, quickIntervalMs: 2000, quickIntervals: 2 };

export interface UdpCostRow {
  peers: number;
  datagrams: number;
  intervalMs: number;
  rounds: number;
  windowSeconds: number;
  /** Echo datagrams sent in the window, and those lost (any direction). */
  sent: number;
  lost: number;
  /** The UDP prober's CPU beyond the TCP-only prober's: share of one core, ms a round, ms per 1,000 datagrams sent. */
  cpuShare: number;
  cpuMsPerRound: number;
  proberMsPer1000: number;
  /** The 64 responders' CPU (one process) per 1,000 datagrams answered (echoes and the count questions). */
  responderMsPer1000: number;
  prober: { hwm: number; anon: number };
  reference: { hwm: number; anon: number };
}


const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The UDP prober's counters: echo datagrams sent and lost, summed over its pairs. */
async function counters(port: number): Promise<{ sent: number; lost: number }> {
  const text = await metricsText(port);
  const sum = (name: string): number => [...text.matchAll(new RegExp(`^${name}\\{[^}]*\\} ([0-9.e+]+)$`, 'gm'))].reduce((s, m) => s + Number(m[1]), 0);
  return { sent: sum('heartbeat_udp_probe_sent_total'), lost: sum('heartbeat_udp_probe_lost_total') };
}

export async function udpCostPhase(o: FleetOptions): Promise<UdpCostRow> {
  const intervalMs = o.quick ? UDP_COST.quickIntervalMs : UDP_COST.intervalMs;
  const intervals = o.quick ? UDP_COST.quickIntervals : UDP_COST.intervals;
  const perRound = UDP_COST.peers * UDP_COST.datagrams;
  let ports = '';
  const peers = await startServer(`${UDP_COST.peers} UDP echo peers`, pinned(o.peerCore, [process.execPath, path.join(__dirname, 'udp-peers.js'),
    String(UDP_COST.peers)]), 0, /^listening ([0-9,]+)$/m, undefined, (head) => { ports = /^listening ([0-9,]+)$/m.exec(head)?.[1] ?? ''; });
  const targets = ports.split(',').map((p) => `http://127.0.0.1:${p}`).join(',');
  const start = async (name: string, udp: number): Promise<ServerProc> => {
    const port = await o.freePort();
    return startServer(name, pinned(o.serverCore, [...o.nodeArgv, o.main, '--host', '127.0.0.1', '--port', String(port), '--metrics',
      '--probe-targets', targets, '--probe-max-peers', String(UDP_COST.peers), '--probe-sizes', '1', '--probe-mtu-probes', '0',
      '--probe-interval', String(intervalMs), '--probe-timeout', String(Math.min(2000, intervalMs)), '--probe-udp', String(udp)]),
    port, /\blifecycle\b.*\blistening\b/, o.env);
  };
  const reference = await start('heartbeat probing TCP only', 0);
  const prober = await start(`heartbeat probing ${UDP_COST.peers} with probeUdp ${UDP_COST.datagrams}`, UDP_COST.datagrams);
  try {
    // the first round warms everything up and is not measured. Both probers are scraped alike, once a
    // second (a scrape renders every series: scraping only one would count its cost as the UDP probe's).
    const until = async (sent: number, ms: number): Promise<{ sent: number; lost: number }> => {
      for (let t = 0; ; t += 1000) {
        const [c] = await Promise.all([counters(prober.port), counters(reference.port)]);
        if (c.sent >= sent) return c;
        if (t > ms) throw new Error(`the UDP prober sent ${c.sent} of ${sent} datagrams in ${ms} ms`);
        await sleep(1000);
      }
    };
    const c0 = await until(perRound, intervalMs * 3);
    const [p0, r0, e0, t0] = [prober.cpuNs() ?? NaN, reference.cpuNs() ?? NaN, peers.cpuNs() ?? NaN, performance.now()];
    o.progress(`udp cost: measuring ${intervals} intervals of ${intervalMs} ms, ${UDP_COST.peers} peers, ${UDP_COST.datagrams} datagrams each`);
    const c1 = await until(c0.sent + intervals * perRound, intervals * intervalMs * 2);
    const [p1, r1, e1, t1] = [prober.cpuNs() ?? NaN, reference.cpuNs() ?? NaN, peers.cpuNs() ?? NaN, performance.now()];
    const extraMs = ((p1 - p0) - (r1 - r0)) / 1e6;
    const rounds = Math.round((c1.sent - c0.sent) / perRound);
    const sent = c1.sent - c0.sent;
    const mem = (s: ServerProc): UdpCostRow['prober'] => {
      const m = procMemory(s.pid);
      return { hwm: m?.hwm ?? NaN, anon: m?.anon ?? NaN };
    };
    const row: UdpCostRow = {
      peers: UDP_COST.peers,
      datagrams: UDP_COST.datagrams,
      intervalMs,
      rounds,
      windowSeconds: (t1 - t0) / 1000,
      sent,
      lost: c1.lost - c0.lost,
      cpuShare: extraMs / (t1 - t0),
      cpuMsPerRound: extraMs / rounds,
      proberMsPer1000: extraMs / (sent / 1000),
      // each peer and round also answers one count question
      responderMsPer1000: (e1 - e0) / 1e6 / ((sent - (c1.lost - c0.lost) + rounds * UDP_COST.peers) / 1000),
      prober: mem(prober),
      reference: mem(reference),
    };
    if (row.lost > 0) o.progress(`udp cost: WARNING ${row.lost} of ${row.sent} datagrams lost on loopback`);
    o.progress(`udp cost: K = ${row.peers}, probeUdp ${row.datagrams}, every ${row.intervalMs / 1000} s: ${rounds} rounds, ` +
      `${(row.cpuShare * 100).toFixed(2)}% of a core beyond the TCP-only prober, ${row.cpuMsPerRound.toFixed(1)} ms CPU a round, ` +
      `${row.proberMsPer1000.toFixed(1)} ms per 1,000 datagrams sent (prober), ${row.responderMsPer1000.toFixed(1)} ms per 1,000 answered (responders); ` +
      `${row.lost} of ${row.sent} lost; VmHWM ${(row.prober.hwm / 1048576).toFixed(1)} MiB against ${(row.reference.hwm / 1048576).toFixed(1)}, ` +
      `RssAnon ${(row.prober.anon / 1048576).toFixed(1)} against ${(row.reference.anon / 1048576).toFixed(1)}`);
    return row;
  } finally {
    await prober.stop();
    await reference.stop();
    await peers.stop();
  }
}

/** The phase of `npm run bench`: the figures under `udpCost` in the results, one table. */
export const udpCost: Phase = {
  name: 'UDP probe cost at K = 64, probeUdp 20',
  async run(ctx) {
    const r = await udpCostPhase(ctx);
    return {
      key: 'udpCost',
      figures: r,
      sections: [{
        id: 'udp-cost',
        caption: `the UDP probe: one heartbeat probing K = ${r.peers} neighbours every ${r.intervalMs / 1000} s with probeUdp ${r.datagrams}, beside one ` +
          'probing the same neighbours with probeUdp 0 (their TCP ports closed: both probers\' TCP probes end refused alike), --metrics, both scraped ' +
          'once a second; the peers are heartbeat\'s echo responders in one process; MiB from /proc/PID/status at the end',
        table: markdownTable(['rounds measured', 'datagrams lost', 'CPU beyond the TCP-only prober', 'CPU ms per round', 'prober ms per 1,000 sent',
          'responders ms per 1,000 answered', 'prober VmHWM', 'prober RssAnon', 'reference VmHWM', 'reference RssAnon'],
        [[String(r.rounds), `${r.lost} of ${r.sent}`, pct(r.cpuShare), r.cpuMsPerRound.toFixed(1), r.proberMsPer1000.toFixed(1),
          r.responderMsPer1000.toFixed(1), mib(r.prober.hwm), mib(r.prober.anon), mib(r.reference.hwm), mib(r.reference.anon)]]),
      }],
    };
  },
};

if (require.main === module) standalone(udpCostPhase);
