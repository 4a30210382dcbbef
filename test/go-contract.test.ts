/**
 * The Go server's probe and version bodies, byte for byte on the wire: its handlers
 * (bartr/heartbeat src/main.go, healthzHandler/readyzHandler/versionHandler) write
 * `Pass\n`, `Ready\n` and the version followed by `\n`, as text/plain with
 * `Cache-Control: no-cache`. Monitors written against it match ours.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { requestBytes, ResponseParser, type RawResponse } from './helpers/raw-http';
import { kill, ROOT, startServer, waitFor, type Running } from './helpers/server';

const MIB = 1024 * 1024;
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Sends `requests` on one connection and collects every response, bodies kept, until the server closes it. */
function onOneConnection(port: number, requests: { method: string; target: string; close?: boolean }[]): Promise<RawResponse[]> {
  return new Promise((resolve, reject) => {
    const parser = new ResponseParser({ keepBody: true });
    const out: RawResponse[] = [];
    const sock = net.connect(port, '127.0.0.1');
    sock.on('data', (c: Buffer) => out.push(...parser.push(c)));
    sock.on('error', reject);
    sock.on('close', () => resolve(out));
    for (const r of requests) parser.expect(r.method === 'HEAD');
    sock.write(Buffer.concat(requests.map((r) => requestBytes(r))));
  });
}

describe('the Go contract on the wire: probe and version bodies', () => {
  let hb: Running | undefined;
  afterEach(() => kill(hb));

  it('answers /healthz "Pass\\n", /readyz "Ready\\n", /version the version and "\\n", as text/plain, not cached; HEAD the same length', async () => {
    hb = await startServer();
    const expected = [['/healthz', 'Pass\n'], ['/readyz', 'Ready\n'], ['/version', `${VERSION}\n`]] as const;
    const requests = expected.flatMap(([target], i) => [
      { method: 'GET', target }, { method: 'HEAD', target, close: i === expected.length - 1 },
    ]);
    const responses = await onOneConnection(hb.port, requests);
    assert.equal(responses.length, requests.length);
    expected.forEach(([target, body], i) => {
      const get = responses[2 * i]!;
      const head = responses[2 * i + 1]!;
      assert.equal(get.status, 200, target);
      assert.equal(get.body?.toString('latin1'), body, target);
      assert.equal(get.headers['content-type'], 'text/plain; charset=utf-8', target);
      assert.equal(get.headers['cache-control'], 'no-cache', target);
      assert.equal(get.headers['content-length'], String(body.length), target);
      assert.equal(head.status, 200, `HEAD ${target}`);
      assert.equal(head.headers['content-length'], String(body.length), `HEAD ${target}`);
      assert.equal(head.bodyBytes, 0, `HEAD ${target}`);
    });
    assert.equal(await hb.stop(), 0);
  });

  it('answers /readyz 503 "shutting down\\n" once shutdown has begun', async () => {
    hb = await startServer(['--max', String(16 * MIB)]);
    const { port } = hb;
    // A connection busy with a download we hold paused across SIGTERM, then asks /readyz.
    const sock = net.connect(port, '127.0.0.1');
    const parser = new ResponseParser({ keepBody: false });
    const responses: RawResponse[] = [];
    let received = 0;
    let readyzTail: Buffer = Buffer.alloc(0);
    let stopped = false;
    const closed = new Promise<void>((resolve) => sock.on('close', () => resolve()));
    sock.on('error', () => undefined);
    sock.on('data', (c: Buffer) => {
      received += c.length;
      readyzTail = Buffer.concat([readyzTail, c]).subarray(-256);
      responses.push(...parser.push(c));
      if (received > 64 * 1024 && !stopped) sock.pause();
    });
    parser.expect(false);
    sock.write(requestBytes({ method: 'GET', target: `/heartbeat/${16 * MIB}` }));
    await waitFor(() => received > 64 * 1024, 10_000, 'the download to start');

    const exited = hb.stop('SIGTERM');
    stopped = true;
    await waitFor(() => hb!.lines.some((l) => l.includes('\tshutdown begun\t')), 5000, 'shutdown begun');
    parser.expect(false);
    sock.write(requestBytes({ method: 'GET', target: '/readyz' }));
    sock.resume();
    await closed;
    assert.equal(responses.length, 2, `got ${responses.length} responses`);
    assert.equal(responses[1]!.status, 503);
    assert.equal(responses[1]!.headers['content-type'], 'text/plain; charset=utf-8');
    // The body, exactly: the last bytes the connection carried.
    assert.ok(readyzTail.toString('latin1').endsWith('\r\n\r\nshutting down\n'), JSON.stringify(readyzTail.toString('latin1')));
    assert.equal(await exited, 0);
  });
});
