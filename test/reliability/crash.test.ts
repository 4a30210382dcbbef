/**
 * A crash is loud: an unexpected error in the real compiled server (injected
 * by a preload, see helpers/crash-preload.ts) is logged as an error line and
 * the process exits 1, also with requests in flight. It never hangs half-alive.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { requestBytes } from '../helpers/raw-http';
import { kill, request, sleep, startServer, waitFor, type Running } from '../helpers/server';

const PRELOAD = path.join(__dirname, '..', 'helpers', 'crash-preload.js');
const GIB = 1024 * 1024 * 1024;

/** The exit code, or 'still running' if the process has not ended within `ms`. */
const exitWithin = (r: Running, ms: number): Promise<number | string> =>
  Promise.race([r.exited, sleep(ms).then(() => 'still running')]);

describe('reliability: a crash is loud', function () {
  this.timeout(60_000);
  let hb: Running | undefined;
  afterEach(() => kill(hb));

  it('an uncaught exception is logged as an error line and the process exits 1', async () => {
    hb = await startServer([], { env: { NODE_OPTIONS: `--require ${PRELOAD}` } });
    assert.equal((await request(hb.port, 'GET', '/heartbeat/17')).status, 200);
    hb.proc.kill('SIGUSR2');
    assert.equal(await exitWithin(hb, 15_000), 1);
    const errors = hb.lines.map((l) => l.split('\t')).filter((c) => c[1] === 'lifecycle' && c[2] === 'error');
    assert.equal(errors.length, 1, hb.lines.join('\n'));
    const [, , , message, details] = errors[0]!;
    assert.equal(message, 'uncaught exception');
    const d = JSON.parse(details!) as { error: string; stack: string };
    assert.equal(d.error, 'injected exception for the crash test');
    assert.match(d.stack, /crash-preload/);
    assert.equal(hb.stderr(), 'heartbeat: uncaught exception: injected exception for the crash test\n', 'said on stderr too');
    assert.ok(!hb.lines.some((l) => l.includes('shutdown done')), 'a crash is not a clean shutdown');
    await assert.rejects(request(hb.port, 'GET', '/healthz'), /ECONNREFUSED/);
  });

  it('an unhandled rejection with a download in flight and an idle keep-alive connection: error line, exit 1, connections closed', async () => {
    hb = await startServer(['--max', String(GIB), '--log-format', 'json'], {
      env: { NODE_OPTIONS: `--require ${PRELOAD}`, HEARTBEAT_TEST_CRASH: 'rejection' },
    });
    const port = hb.port;
    const open = (target: string): { sock: net.Socket; got: () => number; closed: Promise<void> } => {
      const sock = net.connect(port, '127.0.0.1');
      let n = 0;
      sock.on('data', (c: Buffer) => { n += c.length; });
      sock.on('error', () => undefined);
      const closed = new Promise<void>((resolve) => sock.on('close', () => resolve()));
      sock.write(requestBytes({ method: 'GET', target }));
      return { sock, got: () => n, closed };
    };
    const download = open(`/heartbeat/${GIB}`);
    const idle = open('/heartbeat/17');
    await waitFor(() => download.got() > 1024 * 1024 && idle.got() > 17, 10_000, 'both requests under way');

    hb.proc.kill('SIGUSR2');
    assert.equal(await exitWithin(hb, 15_000), 1);
    // The clients are not left hanging: both connections end.
    const ended = await Promise.race([Promise.all([download.closed, idle.closed]).then(() => true), sleep(5000).then(() => false)]);
    assert.ok(ended, 'the connections were closed when the process ended');
    assert.ok(download.got() < GIB, 'the download was cut, not completed');

    const errors = hb.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((o) => o.kind === 'lifecycle' && o.level === 'error');
    assert.equal(errors.length, 1, hb.lines.join('\n'));
    assert.equal(errors[0]!.message, 'unhandled rejection');
    assert.equal((errors[0]!.details as { error: string }).error, 'injected rejection for the crash test');
  });
});
