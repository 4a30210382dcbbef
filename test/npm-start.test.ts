/**
 * `npm start` as an operator uses it: npm forwards SIGTERM/SIGINT to the script's
 * process, so the script's shell must become node (`exec`), or node never hears
 * the signal and keeps serving after npm has gone. And it runs as the image does:
 * the Dockerfile ENTRYPOINT's Node flags, so the upload reclaim is on.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { imageNodeFlags } from '../scripts/dockerfile';
import { alive, cmdline } from './helpers/proc';
import { freePort, portListening, ROOT, sleep, waitFor } from './helpers/server';

/** The image's Node flags, as the Dockerfile gives them (ENV NODE_OPTIONS, then the ENTRYPOINT's). */
const IMAGE_FLAGS = ((f) => [...f.nodeOptions, ...f.entrypoint])(imageNodeFlags());

describe('the ways to start heartbeat carry the image\'s Node flags', () => {
  it('npm start and the command\'s shebang (npx heartbeat, the installed command) give node exactly the Dockerfile\'s flags', () => {
    assert.ok(IMAGE_FLAGS.includes('--expose-gc'), 'the image runs with --expose-gc (the upload reclaim)');
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string }; bin: { heartbeat: string } };
    assert.match(pkg.scripts.start, new RegExp(`exec node ${IMAGE_FLAGS.join(' ')} dist/main\\.js$`));
    for (const file of ['src/main.ts', pkg.bin.heartbeat]) {
      const shebang = readFileSync(path.join(ROOT, file), 'utf8').split('\n')[0];
      assert.equal(shebang, `#!/usr/bin/env -S node ${IMAGE_FLAGS.join(' ')}`, file);
    }
  });
});


describe('npm start', function () {
  // npm start compiles first (tsc), which takes a while on a loaded machine.
  this.timeout(180_000);
  let npm: ChildProcess | undefined;
  let serverPid: number | undefined;
  afterEach(() => {
    if (serverPid !== undefined && alive(serverPid)) process.kill(serverPid, 'SIGKILL');
    if (npm && npm.exitCode === null && npm.signalCode === null) npm.kill('SIGKILL');
  });

  it('stops when npm is sent SIGTERM: the server drains, exits, and the port is free', async () => {
    const port = await freePort();
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HEARTBEAT_')) env[k] = v;
    Object.assign(env, { HEARTBEAT_PORT: String(port), HEARTBEAT_HOST: '127.0.0.1' });
    const proc = spawn('npm', ['start'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    npm = proc;
    let out = '';
    let err = '';
    proc.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    proc.stderr.on('data', (c: Buffer) => { err += c.toString(); });
    // 'exit', not 'close': a server left behind would hold npm's stdout open.
    const exited = new Promise<number | string>((resolve) => proc.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));

    await waitFor(() => /\tlifecycle\tinfo\tlistening\t/.test(out) || proc.exitCode !== null, 150_000, 'npm start to listen');
    const starting = /\tlifecycle\tinfo\tstarting\t(\{.*\})$/m.exec(out);
    assert.ok(starting, `no starting line:\n${out}\n${err}`);
    const details = JSON.parse(starting[1] as string) as { pid: number; reclaim: boolean };
    serverPid = details.pid;
    assert.equal(details.reclaim, true, 'the upload reclaim is on, as in the image');
    assert.deepEqual(cmdline(serverPid).slice(1, 1 + IMAGE_FLAGS.length), IMAGE_FLAGS, 'node runs with the image\'s flags');
    assert.equal(await portListening(port), true, 'the server is listening');

    proc.kill('SIGTERM');
    const code = await exited;
    // Bounded: npm has exited; the server it ran must be gone too, not left serving.
    for (let i = 0; i < 50 && alive(serverPid); i++) await sleep(100);
    assert.equal(alive(serverPid), false, `the server (pid ${serverPid}) outlived npm:\n${out}`);
    assert.equal(await portListening(port), false, 'the port is free');
    assert.match(out, /\tshutdown begun\t\{"signal":"SIGTERM"\}/);
    assert.match(out, /\tshutdown done\t/);
    assert.equal(code, 0, `npm exit: ${err}`);
  });
});
