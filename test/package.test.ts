/**
 * What the container's runtime stage holds, proved without a container engine: `npm pack` the
 * repo, install that tarball with production dependencies only into an empty folder, and run the
 * installed `heartbeat` command. A runtime import of a devDependency, or a file the package
 * leaves out, fails here. Under `npm run test:lts` the server runs on the container's Node.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { imageNodeFlags } from '../scripts/dockerfile';
import { alive, cmdline } from './helpers/proc';
import { NODE, ROOT, freePort, kill, portListening, request, startServer, waitFor, type Running } from './helpers/server';
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

  it('npx heartbeat runs with the image\'s Node flags (the reclaim on), and a SIGTERM to npx leaves no server behind', async () => {
    const flags = ((f) => [...f.nodeOptions, ...f.entrypoint])(imageNodeFlags());
    const port = await freePort();
    // the shebang's `env node`: the Node asked for (the container's under test:lts) first on PATH
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${path.dirname(NODE)}${path.delimiter}${process.env.PATH ?? ''}`, npm_config_update_notifier: 'false' };
    for (const k of Object.keys(env)) if (k.startsWith('HEARTBEAT_')) delete env[k];
    const npx = spawn('npx', ['--no-install', 'heartbeat', '--port', String(port), '--host', '127.0.0.1'], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    npx.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    npx.stderr.on('data', (c: Buffer) => { err += c.toString(); });
    let pid: number | undefined;
    try {
      await waitFor(() => /\tlifecycle\tinfo\tlistening\t/.test(out) || npx.exitCode !== null, 60_000, 'npx heartbeat to listen');
      const starting = /\tlifecycle\tinfo\tstarting\t(\{.*\})$/m.exec(out);
      assert.ok(starting, `no starting line:\n${out}\n${err}`);
      const details = JSON.parse(starting[1] as string) as { pid: number; reclaim: boolean; node: string };
      pid = details.pid;
      assert.equal(details.reclaim, true, 'the upload reclaim is on, as in the image');
      assert.equal(details.node, execFileSync(NODE, ['-v'], { encoding: 'utf8' }).trim());
      assert.deepEqual(cmdline(pid).slice(1, 1 + flags.length), flags, 'node runs with the image\'s flags');
      assert.notEqual(pid, npx.pid, 'npx runs heartbeat as a process of its own (under a shell)');

      npx.kill('SIGTERM');
      await waitFor(() => !alive(pid as number), 15_000, 'the server to exit after npx did');
      assert.equal(await portListening(port), false, 'the port is free');
      assert.match(out, /\tshutdown begun\t\{"signal":"(SIGTERM|parent exited)"\}/);
      assert.match(out, /\tshutdown done\t/);
    } finally {
      if (pid !== undefined && alive(pid)) process.kill(pid, 'SIGKILL');
      if (npx.exitCode === null && npx.signalCode === null) npx.kill('SIGKILL');
    }
  });
});
