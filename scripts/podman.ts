/**
 * The one place that says how to call podman on these machines; the stand-in image
 * script and the image test both go through it.
 *
 * Rootful podman with its defaults fails here (crun: "cgroups in hybrid mode not
 * supported"; setting rlimits is denied). What works: runc, the cgroupfs cgroup
 * manager, no default ulimits (podman/containers.conf, named by CONTAINERS_CONF
 * so /etc is left alone) and the host network for builds and containers.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';

/** The repository root (this file runs compiled from build/scripts/). */
export const ROOT = path.resolve(__dirname, '..', '..');
export const CONTAINERS_CONF = path.join(ROOT, 'podman', 'containers.conf');

/** Global flags before every podman subcommand. */
export const GLOBAL_FLAGS = ['--runtime', 'runc', '--cgroup-manager', 'cgroupfs'] as const;
/**
 * Flags for `podman build`: never pull (the base images are local stand-ins), host network (npm ci),
 * and --layers=false: one layer per stage and no intermediate images to clean up afterwards.
 */
export const BUILD_FLAGS = ['--pull=never', '--network=host', '--layers=false'] as const;
/** Flags for `podman run` that every container here needs. */
export const RUN_FLAGS = ['--network=host'] as const;

export function podmanEnv(): NodeJS.ProcessEnv {
  return { ...process.env, CONTAINERS_CONF };
}

/** Why podman cannot be used here, or undefined when it can. */
export function podmanMissing(): string | undefined {
  const r = spawnSync('podman', ['--version'], { env: podmanEnv(), encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    return 'podman is not installed (or does not run): the container image test needs podman, runc and ' +
      'debootstrap: apt-get install -y podman runc debootstrap';
  }
  return undefined;
}

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `podman <args>` to completion; `log` (when given) receives its output as it comes. */
export function podman(args: readonly string[], log?: (chunk: string) => void): Promise<Result> {
  return new Promise((resolve, reject) => {
    const proc = spawnPodman(args);
    let stdout = '';
    let stderr = '';
    proc.stdout?.on('data', (c: Buffer) => { stdout += c.toString(); log?.(c.toString()); });
    proc.stderr?.on('data', (c: Buffer) => { stderr += c.toString(); log?.(c.toString()); });
    proc.on('error', reject);
    proc.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** As podman(), but throws with podman's stderr when it fails; resolves with stdout. */
export async function podmanOk(args: readonly string[], log?: (chunk: string) => void): Promise<string> {
  const r = await podman(args, log);
  if (r.code !== 0) {
    throw new Error(`podman ${args.join(' ')} failed (exit ${r.code}):\n${lastLines(r.stderr || r.stdout, 40)}`);
  }
  return r.stdout;
}

/** Starts `podman <args>` with piped stdio (for a container whose output is read as it runs). */
export function spawnPodman(args: readonly string[]): ChildProcess {
  return spawn('podman', [...GLOBAL_FLAGS, ...args], { env: podmanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The value of an image's label, or undefined when the image does not exist or lacks it. */
export async function imageLabel(image: string, label: string): Promise<string | undefined> {
  const r = await podman(['image', 'inspect', '--format', `{{index .Config.Labels "${label}"}}`, image]);
  if (r.code !== 0) return undefined;
  const v = r.stdout.trim();
  return v === '' || v === '<no value>' ? undefined : v;
}

export function lastLines(text: string, n: number): string {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}
