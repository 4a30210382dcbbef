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

export const KUBECTL_HINT = 'npm run test:k8s needs kubectl with kustomize (https://kubernetes.io/docs/tasks/tools/; on Debian: apt-get install kubectl from the Kubernetes apt repository)';

/** The container's Node (scripts/lts-node.mjs installs it on demand): its path, or a one-line error. */
export function ltsNode(): string {
  const r = spawnSync(process.execPath, [`${__dirname}/../../../scripts/lts-node.mjs`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(r.stderr.trim() || `scripts/lts-node.mjs exited ${r.status}`);
  return r.stdout.trim();
}
