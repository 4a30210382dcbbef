// `npm run typecheck`: a clean, typechecked build of the server (dist/, tsconfig.json) and of the tests, bench and
// scripts (build/, tsconfig.test.json). Every tier starts with it, so a tier run alone tests what is on disk.
// CI typechecks once: `npm test` builds, then .ci/run (and `npm run test:all`) run the tiers with
// HEARTBEAT_BUILT=1, and here that means "already built in this run": nothing is done when build/ is there.
// --force (npm test's) builds whatever the environment says.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';

const ROOT = path.resolve(import.meta.dirname, '..');
const BUILD = path.join(ROOT, 'build');

if (!process.argv.includes('--force') && process.env.HEARTBEAT_BUILT === '1' && existsSync(path.join(BUILD, 'test')) && existsSync(path.join(ROOT, 'dist', 'main.js'))) {
  writeSync(2, 'typecheck: built earlier in this run (HEARTBEAT_BUILT=1): not rebuilding\n');
  process.exit(0);
}
rmSync(BUILD, { recursive: true, force: true });
const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
for (const project of ['.', 'tsconfig.test.json']) {
  const r = spawnSync(process.execPath, [tsc, '-p', project], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
