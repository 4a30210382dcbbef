/**
 * The Dockerfile against the repo: what it copies exists and reaches the build context, the
 * runtime stage runs the Node the tests run on, as a numeric non-root user, on the default port,
 * with node itself as PID 1.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { defaults } from '../src/config/schema';
import { dockerignoreKeeps, execForm, expandArgs, parseCopy, readDockerfile, type Stage } from './helpers/deploy';
import { ROOT } from './helpers/server';

interface PackageJson {
  version: string;
  bin: Record<string, string>;
}

const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as PackageJson;
const docker = readDockerfile();
const runtime = docker.stages[docker.stages.length - 1] as Stage;
const ops = (stage: Stage, op: string): string[] => stage.instructions.filter((i) => i.op === op).map((i) => i.args);
const workdir = (stage: Stage): string => ops(stage, 'WORKDIR').at(-1) ?? '/';

function filesUnder(rel: string): string[] {
  const abs = path.join(ROOT, rel);
  if (!statSync(abs).isDirectory()) return [rel];
  return readdirSync(abs).flatMap((f) => filesUnder(`${rel}/${f}`));
}

describe('Dockerfile', () => {
  it('builds on one exact Node version, the one npm run test:lts runs the server on (scripts/lts-node.mjs reads it here)', () => {
    const version = docker.globalArgs.get('NODE_VERSION');
    assert.match(version ?? '', /^\d+\.\d+\.\d+$/, 'ARG NODE_VERSION=<exact version> before the first FROM');
    const lts = execFileSync(process.execPath, ['--input-type=module', '-e',
      'import { imageNodeVersion } from "./scripts/lts-node.mjs"; process.stdout.write(imageNodeVersion())'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(lts, version);
    const build = docker.stages[0] as Stage;
    assert.equal(expandArgs(build.from, docker.globalArgs), `node:${version}-bookworm-slim`);
    // the runtime's node is that build stage's binary (a distroless/nodejsNN tag floats within its major line);
    // its base brings only the libraries node links
    assert.equal(runtime.from, 'gcr.io/distroless/cc-debian12:nonroot');
    const node = runtime.instructions.filter((i) => i.op === 'COPY').map(parseCopy).filter((c) => c.dest === '/nodejs/bin/node');
    assert.deepEqual(node.map((c) => [c.from, c.sources]), [[build.name, ['/usr/local/bin/node']]],
      'COPY --from=<build stage> /usr/local/bin/node /nodejs/bin/node: the official node image keeps node there');
    assert.equal(execForm(ops(runtime, 'ENTRYPOINT').at(-1) ?? '')?.[0], '/nodejs/bin/node');
  });

  it('every COPY source from the build context exists and .dockerignore lets it in', () => {
    const ignore = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8');
    const copies = docker.stages.flatMap((s) => s.instructions.filter((i) => i.op === 'COPY' || i.op === 'ADD')).map(parseCopy);
    const fromContext = copies.filter((c) => c.from === undefined);
    assert.ok(fromContext.length > 0);
    for (const c of fromContext) {
      for (const src of c.sources) {
        assert.ok(existsSync(path.join(ROOT, src)), `Dockerfile:${c.line}: COPY ${src}: no such file in the repo`);
        for (const f of filesUnder(src)) {
          assert.ok(dockerignoreKeeps(f, ignore), `Dockerfile:${c.line}: ${f} is excluded by .dockerignore`);
        }
      }
    }
    // and the context holds nothing else: no tests, no node_modules, no k8s manifests
    for (const f of ['test/integration.test.ts', 'node_modules', 'dist/main.js', 'k8s/base/deployment.yaml', '.git']) {
      assert.equal(dockerignoreKeeps(f, ignore), false, `${f} should stay out of the build context`);
    }
  });

  it('the build stage compiles, drops devDependencies and stamps the VERSION build argument', () => {
    const build = docker.stages[0] as Stage;
    const run = ops(build, 'RUN').join('\n');
    assert.match(run, /\bnpm ci\b/);
    assert.match(run, /\bnpm run build\b/);
    assert.match(run, /\bnpm (prune|ci)\b[^\n]*--omit=dev/);
    assert.ok(ops(build, 'ARG').some((a) => /^VERSION\b/.test(a)), 'ARG VERSION in the build stage');
    assert.match(run, /npm pkg set "?version=\$\{?VERSION\}?/);
    // dist/ is where tsc writes: tsconfig's outDir under the build stage's WORKDIR
    const tsconfig = JSON.parse(readFileSync(path.join(ROOT, 'tsconfig.json'), 'utf8')) as { compilerOptions: { outDir: string } };
    assert.equal(tsconfig.compilerOptions.outDir, 'dist');
  });

  it('the runtime stage holds only node (and the libatomic it links), package.json, production node_modules and dist/ from the build stage', () => {
    const build = docker.stages[0] as Stage;
    const copies = runtime.instructions.filter((i) => i.op === 'COPY').map(parseCopy);
    assert.deepEqual(copies.map((c) => c.from), copies.map(() => build.name));
    const wd = workdir(build);
    assert.deepEqual(copies.flatMap((c) => c.sources).sort(),
      [`${wd}/dist`, `${wd}/node_modules`, `${wd}/package.json`, '/runtime-libs/', '/usr/local/bin/node']);
    // the libatomic node links, staged by the build stage at the path ldd found it (any architecture's)
    const staged = ops(build, 'RUN').find((r) => r.includes('/runtime-libs'));
    assert.ok(staged && /ldd \/usr\/local\/bin\/node/.test(staged) && /libatomic\.so\.1/.test(staged), 'the build stage stages libatomic.so.1 from ldd');
    assert.equal(ops(runtime, 'RUN').length, 0, 'the distroless runtime has no shell to RUN with');
  });

  it('names no architecture in any stage (an arm64 build runs the same Dockerfile): no x86_64/aarch64 paths, amd64, arm64 or --platform', () => {
    // arm64 cannot be built here; what would break it is a path or a name of one architecture in an instruction.
    const arch = /x86_64|aarch64|\bamd64\b|\barm64\b|\barmhf\b|\bi386\b|\bi686\b|\bx64\b|[a-z0-9_]+-linux-gnu|--platform/;
    const found = docker.stages.flatMap((st) => st.instructions.filter((i) => arch.test(i.args)).map((i) => `Dockerfile:${i.line}: ${i.op} ${i.args}`));
    const fromLines = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8').split('\n').map((l, i) => [i + 1, l] as const)
      .filter(([, l]) => /^FROM\s/i.test(l) && arch.test(l)).map(([n, l]) => `Dockerfile:${n}: ${l}`);
    assert.deepEqual([...found, ...fromLines], []);
  });

  it('runs as a numeric non-root USER, EXPOSEs the default port, ENTRYPOINT runs node directly (exec form)', () => {
    const user = ops(runtime, 'USER').at(-1) ?? '';
    const m = /^(\d+)(?::(\d+))?$/.exec(user);
    assert.ok(m, `USER must be numeric (uid[:gid]) so runAsNonRoot can verify it, got "${user}"`);
    assert.notEqual(Number(m[1]), 0);
    assert.notEqual(Number(m[2] ?? 1), 0);

    // the heartbeat port, TCP, and the UDP echo responder on the same number
    assert.deepEqual(ops(runtime, 'EXPOSE'), [`${defaults().port} ${defaults().port}/udp`]);

    const entry = execForm(ops(runtime, 'ENTRYPOINT').at(-1) ?? '');
    assert.ok(entry, 'ENTRYPOINT in exec form (JSON array): no shell between the runtime and node, SIGTERM reaches it');
    assert.equal(entry[0], '/nodejs/bin/node');
    // then Node's own flags only (the memory settings, docs/memory.md), then the script: the package's
    // own bin, where the runtime stage put dist/; the pod's args come after it
    const flags = entry.slice(1, -1);
    for (const f of flags) assert.match(f, /^--[a-z0-9-]+(=\S+)?$/, `ENTRYPOINT: ${f} between node and the script is not a Node flag`);
    assert.equal(entry.at(-1), path.posix.join(workdir(runtime), pkg.bin.heartbeat as string));
    assert.equal(ops(runtime, 'CMD').length, 0, 'no CMD: arguments come from the pod (args:)');
  });
});
