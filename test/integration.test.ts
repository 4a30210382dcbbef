/** The compiled heartbeat as its own process, over real TCP: big bodies, vanishing clients, SIGTERM. */
import assert from 'node:assert/strict';
import http from 'node:http';
import { Readable } from 'node:stream';
import { PatternChecker } from '../scripts/pattern-check';
import { kill, request, startServer, waitFor, type Running } from './helpers/server';

const GIB = 1024 * 1024 * 1024;
const MIB = 1024 * 1024;

function get(port: number, path: string, agent?: http.Agent): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: agent ?? false }, resolve).on('error', reject);
  });
}

function drain(res: http.IncomingMessage): Promise<PatternChecker> {
  const check = new PatternChecker();
  return new Promise((resolve, reject) => {
    res.on('data', (c: Buffer) => check.add(c));
    res.on('end', () => resolve(check));
    res.on('error', reject);
  });
}

describe('heartbeat process (integration)', function () {
  this.timeout(120_000);
  let hb: Running | undefined;
  afterEach(() => kill(hb));

  it('streams a 1 GiB body, every byte in place', async () => {
    hb = await startServer(['--max', String(GIB)]);
    const res = await get(hb.port, `/heartbeat/${GIB}`);
    assert.equal(res.headers['content-length'], String(GIB));
    const check = await drain(res);
    assert.equal(check.bytes, GIB);
    assert.equal(check.bad, -1, `wrong byte at offset ${check.bad}`);
    assert.equal(await hb.stop(), 0);
  });

  it('swallows a 64 MiB streamed upload and reports its length', async () => {
    hb = await startServer();
    const total = 64 * MIB;
    const chunk = Buffer.alloc(MIB, 0xab);
    const body = Readable.from((function* () { for (let i = 0; i < total / MIB; i++) yield chunk; })());
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: hb!.port, method: 'POST', path: '/heartbeat/17', agent: false }, resolve);
      req.on('error', reject);
      body.pipe(req);
    });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['x-received-bytes'], String(total));
    const check = await drain(res);
    assert.equal(check.bytes, 17);
    assert.equal(await hb.stop(), 0);
  });

  it('stops the work when a client disconnects mid-download, and keeps serving', async () => {
    hb = await startServer(['--max', String(GIB), '--log']);
    const res = await get(hb.port, `/heartbeat/${GIB}`);
    let got = 0;
    await new Promise<void>((resolve) => {
      res.on('data', (c: Buffer) => {
        got += c.length;
        if (got > 4 * MIB) { res.destroy(); resolve(); }
      });
    });
    // The server notices at once: the exchange is logged as aborted with far less than 1 GiB sent.
    await waitFor(() => hb!.lines.some((l) => l.includes(`/heartbeat/${GIB}`)), 5000, 'the aborted request line');
    const line = hb.lines.find((l) => l.includes(`/heartbeat/${GIB}`))!.split('\t');
    assert.equal(line[9], 'true');
    assert.ok(Number(line[4]) < 512 * MIB, `bytes_out ${line[4]}`);
    const ok = await request(hb.port, 'GET', '/heartbeat/17');
    assert.equal(ok.body.toString(), '0123456789ABCDEF0');
    assert.equal(await hb.stop(), 0);
  });

  it('on SIGTERM finishes the request in flight, turns /readyz 503, and exits 0', async () => {
    // A drain timeout long enough for a loaded machine to read 256 MiB.
    hb = await startServer(['--max', String(GIB), '--drain-timeout', '60000']);
    // One keep-alive connection, busy with a big download when the signal comes.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const before = await get(hb.port, '/readyz', agent);
    await drain(before);
    assert.equal(before.statusCode, 200);

    const big = await get(hb.port, `/heartbeat/${256 * MIB}`, agent);
    big.pause();
    const exited = hb.stop('SIGTERM');
    await waitFor(() => hb!.lines.some((l) => l.includes('shutdown begun')), 5000, 'shutdown begun');
    // The listener has stopped accepting.
    await assert.rejects(request(hb.port, 'GET', '/healthz'), /ECONNREFUSED/);

    big.resume();
    const check = await drain(big);
    assert.equal(check.bytes, 256 * MIB);
    assert.equal(check.bad, -1);

    // The next request on that connection is answered: not ready, and the connection closes.
    const during = await get(hb.port, '/readyz', agent);
    await drain(during);
    assert.equal(during.statusCode, 503);
    assert.equal(during.headers.connection, 'close');
    assert.equal(await exited, 0);
    assert.ok(hb.lines.some((l) => l.includes('shutdown done')));
    agent.destroy();
  });
});
