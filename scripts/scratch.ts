/**
 * Scratch directories for tests, scripts and the bench: the one place that removes a directory tree.
 *
 * `makeScratch(prefix)` makes a fresh directory with mkdtemp (under the machine's temp directory, or under
 * `parent`) and remembers it; `removeScratch(dir)` removes it, and only it: it throws, loudly and before
 * touching anything, for any path this process did not make with `makeScratch` (the temp directory itself,
 * the repository, $HOME, '/', a path computed from something that was never made). A cleanup written
 * `removeScratch(dir)` therefore cannot take the machine's /tmp down when the code that was to make `dir`
 * failed first; test/scratch.test.ts proves the refusals and that no other file in test/, bench/ or
 * scripts/ removes a tree by itself.
 */
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const made = new Set<string>();

/** A new directory `<parent>/<prefix>XXXXXX` (prefix must start with "heartbeat-"), remembered for `removeScratch`. */
export function makeScratch(prefix: string, parent: string = os.tmpdir()): string {
  if (!/^heartbeat-[\w.-]*$/.test(prefix)) throw new Error(`makeScratch: prefix ${JSON.stringify(prefix)} must start with "heartbeat-" and name no directory`);
  const dir = mkdtempSync(path.join(parent, prefix));
  made.add(path.resolve(dir));
  return dir;
}

/** Why `dir` may not be removed ('' when it may): only a directory makeScratch made, nothing above or beside it. */
export function refusal(dir: unknown): string {
  if (typeof dir !== 'string' || dir === '') return `${JSON.stringify(dir)} is not a path`;
  const abs = path.resolve(dir);
  const guarded = [os.tmpdir(), os.homedir(), process.cwd(), path.resolve(__dirname, '..'), path.resolve(__dirname, '..', '..'), path.parse(abs).root]
    .flatMap((p) => [path.resolve(p), realOr(p)]);
  if (guarded.some((g) => abs === g || g.startsWith(abs + path.sep))) return `${abs} is, or holds, the temp directory, $HOME, the repository or the working directory`;
  if (!made.has(abs)) return `${abs} was not made by makeScratch in this process`;
  return '';
}

/** Removes a directory `makeScratch` made (again: a no-op); throws for anything else, removing nothing. */
export function removeScratch(dir: string): void {
  const why = refusal(dir);
  if (why) throw new Error(`removeScratch refused: ${why}`);
  rmSync(dir, { recursive: true, force: true });
}

/** Removes `target`, a path strictly inside a directory `makeScratch` made; throws for anything else. */
export function removeInside(dir: string, target: string): void {
  const why = refusal(dir);
  if (why) throw new Error(`removeInside refused: ${why}`);
  const rel = path.relative(path.resolve(dir), path.resolve(target));
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) throw new Error(`removeInside refused: ${target} is not inside ${dir}`);
  rmSync(target, { recursive: true, force: true });
}

function realOr(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}
