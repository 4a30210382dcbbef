/** `npm run bench`'s command line. */
import path from 'node:path';
import type { LoadClient } from './protocol';

export const ROOT = path.resolve(__dirname, '..', '..');

export interface Options {
  quick: boolean;
  rounds: number;
  seconds: number;
  warmupSeconds: number;
  transferRounds: number;
  connections: number;
  /** Forces one load client for every size. */
  client?: LoadClient;
  out: string;
  profile: boolean;
  /** Which Node runs the servers of the throughput rounds: `image`, `system` or a path. */
  node: string;
  /** Skip the memory phase (both Nodes). */
  memory: boolean;
  /** The Nodes of the memory phase: `image`, `system` or paths. */
  memoryNodes: string[];
  /** Rewrite the docs' generated figures (docs/*.md between bench markers): only a full run on the image's Node may. */
  docs: boolean;
}

export const USAGE = `usage: npm run bench -- [--quick] [--rounds N] [--seconds S] [--connections N] [--client C] [--out FILE] [--profile]
  --quick        every measurement briefly (1 s, 2 rounds, one of each transfer): proves the harness works
  --rounds N     rounds of interleaved measurements (default 5; quick 2)
  --seconds S    seconds per measurement (default 5; quick 1)
  --connections N  keep-alive connections of the load client (default 10)
  --client C     autocannon or lean for every size (default: autocannon at 1 KiB, lean at 64 KiB and 1 MiB)
  --out FILE     JSON results (default bench/results/latest.json)
  --profile      run the servers under node --cpu-prof; profiles go next to --out, summarised on stdout
  --node N       the Node the throughput rounds run the servers on: image (default: the Dockerfile's
                 NODE_VERSION, via scripts/lts-node.mjs), system (the one running the bench) or a path.
                 Every server runs with the image's Node flags (Dockerfile ENTRYPOINT / ENV NODE_OPTIONS).
  --no-memory    skip the memory phase (idle and peak RSS of both servers on both Nodes)
  --memory-nodes LIST  the Nodes of the memory phase, comma-separated (default: image,system)
  --no-docs      do not rewrite the docs' generated figures (a full run on the image's Node does by default;
                 --quick, --node other than image, --no-memory and --profile never do)
`;

export function parseArgs(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const o: Options = {
    quick,
    rounds: quick ? 2 : 5,
    seconds: quick ? 1 : 5,
    warmupSeconds: quick ? 0.5 : 2,
    transferRounds: quick ? 1 : 3,
    connections: 10,
    out: path.join(ROOT, 'bench', 'results', 'latest.json'),
    profile: false,
    node: 'image',
    memory: true,
    memoryNodes: ['image', 'system'],
    docs: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const count = (): number => {
      const n = Number(value());
      if (!(n > 0)) throw new Error(`${a} needs a positive number`);
      return n;
    };
    if (a === '--quick') continue;
    else if (a === '--rounds') o.rounds = Math.round(count());
    else if (a === '--seconds') o.seconds = count();
    else if (a === '--connections') o.connections = Math.round(count());
    else if (a === '--out') o.out = path.resolve(value());
    else if (a === '--client') {
      const c = value();
      if (c !== 'autocannon' && c !== 'lean') throw new Error('--client is autocannon or lean');
      o.client = c;
    }
    else if (a === '--profile') o.profile = true;
    else if (a === '--node') o.node = value();
    else if (a === '--no-memory') o.memory = false;
    else if (a === '--memory-nodes') o.memoryNodes = value().split(',').filter(Boolean);
    else if (a === '--no-docs') o.docs = false;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  // Figures in the docs are those of the shipped configuration, measured in full.
  if (o.quick || o.node !== 'image' || !o.memory || o.profile) o.docs = false;
  return o;
}
