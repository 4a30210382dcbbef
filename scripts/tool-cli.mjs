/**
 * The command line of the on-demand tool installers (scripts/lts-node.mjs, scripts/helm.mjs):
 * with no arguments, install the tool if missing and print its path; with `--exec CMD ARGS...`,
 * run CMD with the tool's path in the environment variable the tests read.
 */
import { spawnSync } from 'node:child_process';
import process from 'node:process';

/** ensure(): the tool's path (installing it first); envName: where CMD finds it; fail(message): exits. */
export function toolCli(ensure, envName, fail) {
  const bin = ensure();
  const at = process.argv.indexOf('--exec');
  if (at < 0) {
    process.stdout.write(`${bin}\n`);
    return;
  }
  const [cmd, ...args] = process.argv.slice(at + 1);
  if (!cmd) fail('--exec needs a command');
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, [envName]: bin } });
  process.exit(r.status ?? 1);
}
