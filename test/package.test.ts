/**
 * What the container's runtime stage holds, proved without a container engine: `npm pack` the
 * repo, install that tarball with production dependencies only into an empty folder, and run the
 * installed `heartbeat` command. A runtime import of a devDependency, or a file the package
 * leaves out, fails here. Under `npm run test:lts` the server runs on the container's Node.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { NODE, ROOT, kill, request, startServer, type Running } from './helpers/server';
import { makeScratch, removeScratch } from '../scripts/scratch';

interface PackResult {
  filename: string;
  files: { path: string }[];
}

const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** npm quietly, offline when its cache has everything (it does after `npm ci`). */
function npm(args: string[], cwd: string): string {
  return execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });
}

describe('the packed package, installed with production dependencies only', function () {
  this.timeout(120_000);
  let tmp: string | undefined;
  let packed: PackResult;
  let app: string;
  let hb: Running | undefined;

  before(() => {
    tmp = makeScratch('heartbeat-pack-');
    packed = (JSON.parse(npm(['pack', '--json', '--pack-destination', tmp], ROOT)) as PackResult[])[0] as PackResult;
    app = path.join(tmp, 'app');
    mkdirSync(app);
    writeFileSync(path.join(app, 'package.json'), '{ "private": true }\n');
    npm(['install', '--omit=dev', '--prefer-offline', '--ignore-scripts', '--no-package-lock', path.join(tmp, packed.filename)], app);
  });
  afterEach(() => kill(hb));
  after(() => { if (tmp) removeScratch(tmp); });

  it('holds the compiled server and package.json, not sources or tests', () => {
    const files = packed.files.map((f) => f.path);
    assert.ok(files.includes('package.json'));
    assert.ok(files.includes('dist/main.js'));
    const strays = files.filter((f) => !f.startsWith('dist/') && !/^(package\.json|README\.md|LICENSE)$/.test(f));
    assert.deepEqual(strays, []);
    assert.deepEqual(files.filter((f) => f.endsWith('.ts')), []);
  });

  it('installs the runtime dependencies and none of the devDependencies', () => {
    const top = new Set(readdirSync(path.join(app, 'node_modules')));
    for (const dep of Object.keys(pkg.dependencies)) assert.ok(top.has(dep), `${dep} installed`);
    const scoped = (name: string): boolean => existsSync(path.join(app, 'node_modules', name));
    assert.deepEqual(Object.keys(pkg.devDependencies).filter(scoped), []);
  });

  it('the installed heartbeat command serves /healthz, /readyz, /version and exact bytes, then stops on SIGTERM', async () => {
    const bin = path.join(app, 'node_modules', '.bin', 'heartbeat');
    hb = await startServer(['--log-format', 'json'], { main: bin, cwd: app });

    const health = await request(hb.port, 'GET', '/healthz');
    assert.equal(health.status, 200);
    assert.equal(health.body.toString(), 'Pass\n');
    assert.equal((await request(hb.port, 'GET', '/readyz')).status, 200);
    const version = await request(hb.port, 'GET', '/version');
    assert.equal(version.body.toString(), `${pkg.version}\n`);
    const beat = await request(hb.port, 'GET', '/heartbeat/17');
    assert.equal(beat.status, 200);
    assert.deepEqual(beat.body, Buffer.from('0123456789ABCDEF0'));

    // it ran on the Node asked for (HEARTBEAT_TEST_NODE under test:lts)
    const starting = hb.lines.map((l) => JSON.parse(l) as { message: string; details: { node?: string } })
      .find((l) => l.message === 'starting');
    assert.equal(starting?.details.node, execFileSync(NODE, ['-v'], { encoding: 'utf8' }).trim());
    assert.equal(await hb.stop(), 0);
  });
});
