/** Writing generated files: only those whose content changed, creating folders as needed. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface Planned {
  /** Path from the repository root. */
  target: string;
  content: string;
}

/** Writes every planned file under `root` whose content differs; returns the targets written. */
export function writeChanged(root: string, planned: readonly Planned[]): string[] {
  const changed: string[] = [];
  for (const p of planned) {
    const file = path.join(root, p.target);
    if (existsSync(file) && readFileSync(file, 'utf8') === p.content) continue;
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, p.content);
    changed.push(p.target);
  }
  return changed;
}
