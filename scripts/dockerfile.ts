/**
 * The repository's Dockerfile read the way a builder reads it (instructions, stages, continuation lines,
 * COPY sources, .dockerignore), and the Node flags its runtime stage gives heartbeat. Shared by the bench
 * (which runs its servers with those flags), scripts/soak.ts and the tests.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

export interface Instruction {
  /** Upper-case keyword: FROM, RUN, COPY, ... */
  op: string;
  /** Everything after the keyword, continuation lines joined. */
  args: string;
  line: number;
}

export interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  globalArgs: Map<string, string>;
  stages: Stage[];
}

/** Parses the repo's Dockerfile: comments dropped, `\` continuations joined, split into stages. */
export function readDockerfile(file = path.join(ROOT, 'Dockerfile')): Dockerfile {
  const lines = readFileSync(file, 'utf8').split('\n');
  const instructions: Instruction[] = [];
  let pending: { text: string; line: number } | undefined;
  lines.forEach((raw, i) => {
    const text = raw.trim();
    if (!pending && (text === '' || text.startsWith('#'))) return;
    if (pending && text.startsWith('#')) return;
    const joined = pending ? `${pending.text} ${text}` : text;
    const start = pending ? pending.line : i + 1;
    if (joined.endsWith('\\')) {
      pending = { text: joined.slice(0, -1).trimEnd(), line: start };
      return;
    }
    pending = undefined;
    const m = /^(\S+)\s*([\s\S]*)$/.exec(joined) as RegExpExecArray;
    instructions.push({ op: (m[1] as string).toUpperCase(), args: (m[2] as string).trim(), line: start });
  });
  const out: Dockerfile = { globalArgs: new Map(), stages: [] };
  for (const ins of instructions) {
    if (ins.op === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`Dockerfile:${ins.line}: cannot read FROM ${ins.args}`);
      out.stages.push({ from: m[1] as string, name: m[2], instructions: [] });
    } else if (out.stages.length === 0) {
      if (ins.op !== 'ARG') throw new Error(`Dockerfile:${ins.line}: ${ins.op} before FROM`);
      const [name, value = ''] = ins.args.split('=', 2);
      out.globalArgs.set((name as string).trim(), value.replace(/^"|"$/g, ''));
    } else {
      (out.stages[out.stages.length - 1] as Stage).instructions.push(ins);
    }
  }
  return out;
}

/** `${NAME}` / `$NAME` expanded from the global ARG defaults (as FROM lines are). */
export function expandArgs(text: string, args: Map<string, string>): string {
  return text.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, a?: string, b?: string) => args.get((a ?? b) as string) ?? whole);
}

/** The JSON (exec) form of an instruction, or undefined when it is the shell form. */
export function execForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  const parsed = JSON.parse(args) as unknown;
  return Array.isArray(parsed) && parsed.every((a) => typeof a === 'string') ? parsed : undefined;
}

export interface Copy {
  from?: string;
  sources: string[];
  dest: string;
  line: number;
}

/** A COPY instruction's --from, sources and destination (JSON or plain form). */
export function parseCopy(ins: Instruction): Copy {
  let rest = ins.args;
  let from: string | undefined;
  for (;;) {
    const flag = /^--([a-z-]+)(?:=(\S+))?\s+/.exec(rest);
    if (!flag) break;
    if (flag[1] === 'from') from = flag[2];
    rest = rest.slice(flag[0].length);
  }
  const parts = execForm(rest) ?? rest.split(/\s+/);
  if (parts.length < 2) throw new Error(`Dockerfile:${ins.line}: COPY needs a source and a destination`);
  return { from, sources: parts.slice(0, -1), dest: parts[parts.length - 1] as string, line: ins.line };
}

/**
 * Whether the build context keeps `rel` under .dockerignore's rules: the last matching pattern
 * wins, `!` re-includes, a pattern matching a parent folder matches everything in it.
 */
export function dockerignoreKeeps(rel: string, ignoreText: string): boolean {
  const rules = ignoreText.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((l) => {
    const negate = l.startsWith('!');
    const pattern = (negate ? l.slice(1) : l).trim().replace(/^\/+/, '').replace(/\/+$/, '');
    const re = new RegExp(`^${pattern.split('/').map((seg) => (seg === '**' ? '.*' : seg
      .replace(/[.+^$(){}|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]'))).join('/')}$`);
    return { negate, re };
  });
  const parts = rel.split('/');
  let kept = true;
  for (const { negate, re } of rules) {
    for (let i = 1; i <= parts.length; i++) {
      if (re.test(parts.slice(0, i).join('/'))) { kept = negate; break; }
    }
  }
  return kept;
}

/**
 * The Node flags the image runs heartbeat with: those between `node` and the script in the runtime
 * stage's exec-form ENTRYPOINT, then those of an `ENV NODE_OPTIONS` (Node reads NODE_OPTIONS first,
 * so a flag given in both takes the ENTRYPOINT's value). The bench runs its servers with them.
 */
export function imageNodeFlags(docker: Dockerfile = readDockerfile()): { entrypoint: string[]; nodeOptions: string[] } {
  const runtime = docker.stages[docker.stages.length - 1] as Stage;
  const entry = execForm(runtime.instructions.filter((i) => i.op === 'ENTRYPOINT').at(-1)?.args ?? '') ?? [];
  const env = runtime.instructions.filter((i) => i.op === 'ENV').map((i) => /^NODE_OPTIONS=(?:"([^"]*)"|(\S+))/.exec(i.args)).at(-1);
  return {
    entrypoint: entry.slice(1, -1),
    nodeOptions: (env?.[1] ?? env?.[2] ?? '').split(/\s+/).filter(Boolean),
  };
}
