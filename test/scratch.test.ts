/**
 * Tests touch nothing outside what they made (issue #37, item 1): scripts/scratch.ts is the one place that
 * removes a directory tree, and it refuses every path it did not make. A helm tier whose before() fails
 * (helm or kubectl missing) once removed the whole of /tmp; here it runs with a temp directory of its own
 * holding a file that must survive.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeScratch, refusal, removeInside, removeScratch } from '../scripts/scratch';
import { ROOT } from './helpers/server';

describe('scratch directories: a cleanup removes only what mkdtemp made', () => {
  it('removes a directory makeScratch made, with what is in it', () => {
    const dir = makeScratch('heartbeat-scratch-');
    writeFileSync(path.join(dir, 'f'), 'x');
    assert.equal(path.dirname(dir), os.tmpdir());
    removeScratch(dir);
    assert.equal(existsSync(dir), false);
  });

  it('refuses, removing nothing, the temp directory, $HOME, the repository, / and a path it never made', () => {
    const never = mkdtempSync(path.join(os.tmpdir(), 'heartbeat-not-made-here-'));
    try {
      for (const p of [os.tmpdir(), `${os.tmpdir()}/`, os.homedir(), ROOT, process.cwd(), '/', never, path.join(never, '..'), '', undefined]) {
        assert.throws(() => removeScratch(p as string), /removeScratch refused/, String(p));
        assert.notEqual(refusal(p), '');
      }
      assert.ok(existsSync(never) && existsSync(os.tmpdir()) && existsSync(path.join(ROOT, 'package.json')));
    } finally {
      rmdirSync(never); // empty, made above: no tree to remove
    }
  });

  it('removeInside removes only below a scratch directory', () => {
    const dir = makeScratch('heartbeat-scratch-');
    writeFileSync(path.join(dir, 'f'), 'x');
    assert.throws(() => removeInside(dir, dir), /not inside/);
    assert.throws(() => removeInside(dir, path.join(dir, '..')), /not inside/);
    assert.throws(() => removeInside(os.tmpdir(), path.join(os.tmpdir(), 'x')), /removeInside refused/);
    removeInside(dir, path.join(dir, 'f'));
    assert.deepEqual(readdirSync(dir), []);
    removeScratch(dir);
  });

  it('a helm tier whose before() fails leaves the temp directory and its files in place', () => {
    const tmp = makeScratch('heartbeat-fake-tmp-');
    try {
      const sentinel = path.join(tmp, 'another-programs-file');
      writeFileSync(sentinel, 'keep me');
      const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmp };
      delete env.HEARTBEAT_TEST_HELM; // helm "missing": the suite's before() throws
      const mocha = require.resolve('mocha/bin/mocha.js');
      const r = spawnSync(process.execPath, [mocha, '--no-config', '--forbid-only', '--timeout', '60000', path.join(ROOT, 'build', 'test', 'helm', 'helm.test.js')],
        { env, encoding: 'utf8', timeout: 120_000 });
      assert.notEqual(r.status, 0, 'the helm suite passed without helm');
      assert.match(r.stdout + r.stderr, /helm is missing/);
      assert.equal(readFileSync(sentinel, 'utf8'), 'keep me', 'the failing suite removed its temp directory\'s files');
      assert.ok(statSync(tmp).isDirectory());
    } finally {
      removeScratch(tmp);
    }
  });

  it('no file in test/, bench/, scripts/ or .ci/ removes a tree except through scripts/scratch.ts', () => {
    /** Lines allowed to remove a tree themselves, and why. */
    const allowed: Record<string, RegExp> = {
      // plain JS run before the TypeScript is built; removes only its own `const work = mkdtempSync(...)`
      'scripts/lambda-layer.mjs': /^rmSync\(work, /,
      // plain JS run before the TypeScript is built; removes the repository's own build output, build/ (BUILD = ROOT/build)
      'scripts/typecheck.mjs': /^rmSync\(BUILD, /,
      // a RUN line of a Containerfile: inside the image being built
      'scripts/standin-images.ts': /rm -rf \/var\/lib\/apt\/lists\/\*/,
    };
    const offenders: string[] = [];
    const walk = (rel: string): string[] => readdirSync(path.join(ROOT, rel), { withFileTypes: true })
      .flatMap((e) => (e.isDirectory() ? walk(`${rel}/${e.name}`) : [`${rel}/${e.name}`]));
    for (const file of ['test', 'bench', 'scripts', '.ci'].flatMap(walk)) {
      if (file === 'scripts/scratch.ts' || file === 'test/scratch.test.ts' || !/\.(ts|mjs|js)$|^\.ci\//.test(file)) continue;
      readFileSync(path.join(ROOT, file), 'utf8').split('\n').forEach((line, i) => {
        const tree = /\b(rmSync|rm|rimraf)\s*\([^)]*recursive/.test(line) || /\brm\s+-[a-zA-Z]*[rR]/.test(line);
        if (!tree) return;
        if (allowed[file]?.test(line.trim().replace(/^'\s*/, ''))) return;
        offenders.push(`${file}:${i + 1}: ${line.trim()}`);
      });
    }
    assert.deepEqual(offenders, [], 'remove a tree only with removeScratch()/removeInside() from scripts/scratch.ts');
  });
});
