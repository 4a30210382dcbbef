/** README and docs/ stay true to the tree: the source layout names every file in src/, and links resolve. */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './helpers/server';

function filesUnder(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? filesUnder(`${dir}/${e.name}`) : [`${dir}/${e.name}`]));
}

const DOCS = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

describe('docs', () => {
  it('docs/layout.md has one row for every file in src/, and no row for a file that is not there', () => {
    const table = readFileSync(path.join(ROOT, 'docs', 'layout.md'), 'utf8');
    const rows = [...table.matchAll(/^\| `(src\/[^`]+)` \|/gm)].map((m) => m[1] as string).sort();
    assert.deepEqual(rows, filesUnder('src').sort());
  });

  for (const doc of DOCS) {
    it(`${doc}: every relative link points at a file of the repository`, () => {
      const text = readFileSync(path.join(ROOT, doc), 'utf8');
      const links = [...text.matchAll(/\]\(([^)\s#]+)(#[^)\s]*)?\)/g)].map((m) => m[1] as string).filter((l) => !/^[a-z]+:/.test(l));
      const broken = links.filter((l) => !existsSync(path.resolve(ROOT, path.dirname(doc), l)));
      assert.deepEqual(broken, []);
    });
  }
});
