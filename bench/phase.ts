/**
 * A phase of `npm run bench` after the throughput and memory rounds: its own file, one line in
 * bench/run.ts's PHASES. It starts what it measures (on the servers' Node, with the image's flags),
 * stops it, and gives back its figures (a key of the results JSON), its tables and its targets.
 */
import path from 'node:path';
import { freePort } from '../scripts/free-port';
import type { NodeBin } from './memory';
import type { Target } from './stats';

export interface PhaseContext {
  /** --quick: measure briefly, to prove the harness works. */
  quick: boolean;
  /** The compiled heartbeat (dist/main.js). */
  main: string;
  /** The Node the servers run on, and the argv before a script: that Node with the image's flags. */
  node: NodeBin;
  nodeArgv: string[];
  /** The servers' environment (the image's NODE_OPTIONS). */
  env: NodeJS.ProcessEnv;
  /** The servers' core, and the core of what loads or answers them (undefined: not pinned). */
  serverCore?: number;
  peerCore?: number;
  freePort: () => Promise<number>;
  /** A progress line on stderr. */
  progress: (line: string) => void;
}

/**
 * A table as the bench prints it and the docs include it: between `<!-- bench:ID -->` and
 * `<!-- /bench:ID -->` in a doc, `npm run bench` rewrites it (bench/docs.ts).
 */
export interface Section {
  id: string;
  /** What was measured, how: one paragraph above the table. */
  caption: string;
  /** Markdown. */
  table: string;
}

export interface PhaseResult {
  /** Its key in the results JSON. */
  key: string;
  figures: unknown;
  sections: Section[];
  targets?: Target[];
}

export interface Phase {
  name: string;
  run(ctx: PhaseContext): Promise<PhaseResult>;
}

/** What a fleet-scale phase (probe-cost, udp-cost) needs of the context: also what it gets when run alone. */
export type FleetOptions = Pick<PhaseContext, 'quick' | 'main' | 'nodeArgv' | 'env' | 'serverCore' | 'peerCore' | 'freePort' | 'progress'>;

/** Runs such a phase's measurement alone (`node build/bench/X.js [--quick]`): this Node, unpinned; its row as JSON on stdout. */
export function standalone<T>(measure: (o: FleetOptions) => Promise<T>): void {
  void measure({
    quick: process.argv.includes('--quick'),
    main: path.join(__dirname, '..', '..', 'dist', 'main.js'),
    nodeArgv: [process.execPath],
    env: process.env,
    freePort,
    progress: (s) => process.stderr.write(`${s}\n`),
  }).then((row) => process.stdout.write(`${JSON.stringify(row, null, 2)}\n`));
}
