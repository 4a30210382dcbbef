/**
 * `npm run bench`: heartbeat as users run it (the compiled dist/main.js, its
 * own process), against a bare node:http baseline measured in the same run,
 * interleaved round by round, so the result is a ratio that survives a noisy
 * machine. The load comes from another process (bench/load.ts); with taskset,
 * servers run on core 0 and the load on core 1.
 *
 *   npm run bench [-- --quick] [-- --out FILE] [-- --profile]
 *
 * Prints a table on stdout (progress on stderr), writes the figures as JSON and, from a full run on the
 * image's Node, the docs' generated tables (bench/docs.ts).
 *
 * The runner only orders the phases; each is its own file:
 *   options.ts     the command line          workloads.ts  what is measured (sizes, configurations, targets)
 *   servers.ts     servers and load worker   throughput.ts the throughput rounds and big transfers
 *   memory.ts      the memory phase          stats.ts      medians, side-by-side ratios
 *   report.ts      JSON, targets, tables     docs.ts       the tables written into docs/
 *   phase.ts       what a further phase is: add one to PHASES below.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../scripts/free-port';
import { writeDocs } from './docs';
import { FULL_LOAD, memoryPhase, QUICK_LOAD } from './memory';
import { parseArgs } from './options';
import type { Phase, PhaseResult } from './phase';
import { probeCost } from './probe-cost';
import { udpCost } from './udp-cost';
import { pinSelf, tasksetWorks } from './procs';
import { report } from './report';
import { IMAGE_FLAGS, MAIN, nodeArgv, nodeBin, preflight, SERVER_ENV, startBaseline, startHeartbeat, startLoadWorker, type Server } from './servers';
import { throughputPhase } from './throughput';
import { REFERENCE, SIZES } from './workloads';

/**
 * The phases after the throughput and memory rounds, in order: each in a file of its own
 * (bench/phase.ts says what one is), one line here.
 */
const PHASES: Phase[] = [
  probeCost,
  udpCost,
];

const SERVER_CORE = 0;
const LOAD_CORE = 1;

const progress = (line: string): void => void process.stderr.write(`${line}\n`);

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm run bench does)`);
  const date = new Date().toISOString();
  const loadAverage = os.loadavg();
  const cores = os.cpus().length;
  const pin = tasksetWorks(cores);
  const pinning = pin
    ? `taskset: servers on core ${SERVER_CORE}, load worker and harness on core ${LOAD_CORE}`
    : `not pinned (${cores < 2 ? 'fewer than 2 cores' : 'taskset not available'})`;
  if (pin) pinSelf(LOAD_CORE);
  progress(`bench: ${pinning}; load average ${loadAverage.map((l) => l.toFixed(2)).join(' ')}`);
  const node = nodeBin(o.node);
  const memoryNodes = [...new Map(o.memoryNodes.map(nodeBin).map((n) => [n.bin, n])).values()];
  progress(`bench: servers on Node ${node.version} (${node.name}) with the image's flags: ${[...IMAGE_FLAGS.nodeOptions, ...IMAGE_FLAGS.entrypoint].join(' ') || '(none)'}`);
  progress(`bench: ${o.rounds} rounds x ${o.seconds} s per measurement, ${o.connections} connections${o.profile ? ', profiling' : ''}`);

  const load = startLoadWorker(pin ? LOAD_CORE : undefined);
  // A second worker (same core) for the side-by-side rounds: each server of a pair gets its own load.
  const load2 = startLoadWorker(pin ? LOAD_CORE : undefined);
  const core = pin ? SERVER_CORE : undefined;
  const peerCore = pin ? LOAD_CORE : undefined;
  // Only the baseline and the reference heartbeat run through the size rounds; each other
  // configuration is started for its own rounds (interleaved with the reference) and stopped
  // after, so no more than three servers share the server core at a time: with all five up
  // together, whichever was started last measured 20-30% slower whatever its configuration.
  const servers: Server[] = [await startBaseline(o, core, node), await startHeartbeat(o, core, REFERENCE, node)];
  const [baseline, reference] = servers as [Server, Server];
  try {
    await preflight(servers);
    progress(`bench: ${servers.length} servers up, same status, headers and bytes at ${SIZES.map((s) => s.label).join(', ')}`);
    const throughput = await throughputPhase({ o, node, core, peerCore, load, load2, baseline, reference, servers, progress });
    const exits = await Promise.all([baseline, reference].map((s) => s.proc.stop()));
    [baseline, reference].forEach((s, i) => { if (exits[i] !== 0) throw new Error(`${s.key} exited with ${exits[i]} on SIGTERM`); });

    // Memory: each server alone on the server core, on every Node, under the same load (bench/memory.ts).
    const memory = o.memory
      ? await memoryPhase(memoryNodes, async (which, n) => {
        const s = which === 'baseline' ? await startBaseline({ ...o, profile: false }, core, n)
          : await startHeartbeat({ ...o, profile: false }, core, REFERENCE, n);
        return { pid: s.proc.pid, port: s.proc.port, stop: () => s.proc.stop() };
      }, load.run.bind(load), o.quick ? QUICK_LOAD : FULL_LOAD, progress)
      : [];
    load.close();
    load2.close();

    const phases: PhaseResult[] = [];
    for (const phase of PHASES) {
      progress(`bench: ${phase.name}`);
      phases.push(await phase.run({
        quick: o.quick, main: MAIN, node, nodeArgv: nodeArgv(node), env: SERVER_ENV, serverCore: core, peerCore, freePort, progress,
      }));
    }

    const r = report(o, { date, cores, pinning, node, loadAverage }, throughput, memory, phases);
    process.stdout.write(r.text);
    fs.mkdirSync(path.dirname(o.out), { recursive: true });
    fs.writeFileSync(o.out, JSON.stringify(r.results, null, 2) + '\n');
    process.stdout.write(`\nresults: ${path.relative(process.cwd(), o.out) || o.out}\n`);
    if (o.docs) {
      for (const f of writeDocs(r.sections, { date, node, loadAverage })) process.stdout.write(`docs: ${f}\n`);
    }
  } finally {
    load.close();
    load2.close();
    await Promise.all(servers.flatMap((s) => [s.proc.stop(), ...(s.peers ? [s.peers.stop()] : [])]));
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
