/**
 * Uploads over the limit get 413 and the connection is closed without the
 * server reading the body: the client finds out while it is still sending
 * (or, with Expect: 100-continue, before it sends any body at all).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { fdCount, pollUntil } from '../helpers/proc';
import { heartbeatProblem, KeepAliveConnection, requestBytes, ResponseParser, type RawResponse } from '../helpers/raw-http';
import { kill, startServer, waitFor, type Running } from '../helpers/server';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
const LIMIT = 256 * 1024;
/** We stop sending here if the server has not stopped us: far below the 2 GiB declared. */
const SEND_CAP = 256 * MIB;

interface Pushed {
  responses: RawResponse[];
  /** Body bytes we had written when the connection ended (or when we stopped). */
  sent: number;
  /** The server ended the connection (close, reset, or a write that failed: EPIPE). */
  closedByServer: boolean;
}

const PIECE = Buffer.alloc(64 * 1024, 'u');
const CHUNK = Buffer.concat([Buffer.from(`${PIECE.length.toString(16)}\r\n`), PIECE, Buffer.from('\r\n')]);

/**
 * Sends `head`, then body bytes (raw or as chunks) of 64 KiB each: `upTo` bytes
 * and then waits for the answer, or (upTo undefined) as fast as the server takes
 * them until it ends the connection or SEND_CAP is reached.
 *
 * A client that keeps writing after the server has closed gets EPIPE, and Node
 * then drops the socket with whatever answer it had not read yet (curl reads it
 * and reports the 413); so only the client that stops writing is sure to see it.
 */
function pushUpload(port: number, head: Buffer, chunked: boolean, upTo?: number): Promise<Pushed> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    const parser = new ResponseParser({ keepBody: true });
    parser.expect(false);
    const responses: RawResponse[] = [];
    const limit = upTo ?? SEND_CAP;
    let sent = 0;
    let closed = false;
    const finish = (byServer: boolean): void => {
      if (closed) return;
      closed = true;
      clearTimeout(bound);
      sock.destroy();
      resolve({ responses, sent, closedByServer: byServer });
    };
    const bound = setTimeout(() => finish(false), 20_000);
    const pump = (): void => {
      while (!closed && sent < limit) {
        sent += PIECE.length;
        if (!sock.write(chunked ? CHUNK : PIECE)) return void sock.once('drain', pump);
      }
      if (!closed && upTo === undefined) finish(false);
    };
    sock.on('data', (c: Buffer) => responses.push(...parser.push(c)));
    sock.on('error', () => finish(true));
    sock.on('close', () => finish(true));
    sock.on('connect', () => {
      sock.write(head);
      pump();
    });
  });
}

describe('reliability: uploads over the limit', function () {
  this.timeout(60_000);
  let hb: Running | undefined;
  afterEach(() => kill(hb));

  it('413 and a closed connection, long before a 2 GiB body is sent; before any body with Expect: 100-continue', async () => {
    hb = await startServer(['--upload-limit', String(LIMIT), '--log']);
    const { port } = hb;
    const pid = hb.proc.pid as number;
    const fds0 = fdCount(pid);

    const declaredHead = requestBytes({ method: 'POST', target: '/heartbeat/17', headers: [`Content-Length: ${2 * GIB}`] });
    const chunkedHead = requestBytes({ method: 'POST', target: '/heartbeat/17', headers: ['Transfer-Encoding: chunked'] });

    // A client that sends part of its body, then listens: 413, then the server closes. (What it
    // sends past the point of refusal is little enough for the kernel's buffers to take at once.)
    for (const [what, head, chunked, upTo] of [
      ['declared 2 GiB, 64 KiB sent', declaredHead, false, 64 * 1024],
      ['chunked, the limit + 128 KiB sent', chunkedHead, true, LIMIT + 128 * 1024],
    ] as const) {
      const r = await pushUpload(port, head, chunked, upTo);
      assert.deepEqual(r.responses.map((x) => x.status), [413], what);
      assert.equal(r.responses[0]?.headers.connection, 'close', what);
      assert.ok(r.closedByServer, `${what}: the server did not close the connection`);
    }

    // A client that keeps sending: the server ends the connection long before 2 GiB (or our cap).
    for (const [what, head, chunked] of [['declared 2 GiB', declaredHead, false], ['chunked', chunkedHead, true]] as const) {
      const r = await pushUpload(port, head, chunked);
      assert.ok(r.closedByServer, `${what}: the server did not end the connection; we sent ${r.sent} bytes`);
      assert.ok(r.sent < 64 * MIB, `${what}: the client could send ${r.sent} bytes before the server ended the connection`);
      assert.ok(r.responses.every((x) => x.status === 413), `${what}: ${r.responses.map((x) => x.status).join()}`);
    }

    // Expect: 100-continue: refused with no 100 and no body sent.
    const asked = await new Promise<{ raw: string; closed: boolean }>((resolve) => {
      const sock = net.connect(port, '127.0.0.1');
      let raw = '';
      sock.on('data', (c: Buffer) => { raw += c.toString('latin1'); });
      sock.on('error', () => undefined);
      sock.on('close', () => resolve({ raw, closed: true }));
      setTimeout(() => { sock.destroy(); resolve({ raw, closed: false }); }, 10_000).unref();
      sock.write(requestBytes({
        method: 'POST', target: '/heartbeat/17', headers: [`Content-Length: ${2 * GIB}`, 'Expect: 100-continue'],
      }));
    });
    assert.match(asked.raw, /^HTTP\/1\.1 413 /, `got ${JSON.stringify(asked.raw.slice(0, 80))}`);
    assert.doesNotMatch(asked.raw, /100 Continue/);
    assert.ok(asked.closed, 'the server closed the connection after the 413');

    // Within the limit, with and without Expect: served, and the connection stays usable.
    const conn = await KeepAliveConnection.connect(port);
    const atLimit = await conn.send(requestBytes({ method: 'POST', target: '/heartbeat/17', body: LIMIT }));
    assert.equal(heartbeatProblem(atLimit, 17), undefined);
    assert.equal(atLimit.headers['x-received-bytes'], String(LIMIT));
    const expecting = await conn.send(requestBytes({
      method: 'POST', target: '/heartbeat/17', body: 1000, headers: ['Expect: 100-continue'],
    }));
    assert.equal(heartbeatProblem(expecting, 17), undefined);
    assert.equal(expecting.headers['x-received-bytes'], '1000');
    conn.close();

    // The log has the five refusals: 413, and (as the server read little) bytes_in near the limit at most.
    const refused = (): string[][] => hb!.lines.map((l) => l.split('\t')).filter((c) => c[1] === 'request' && c[2] === '413');
    await waitFor(() => refused().length >= 5, 5000, 'five 413 log lines');
    const bytesIn = refused().map((c) => Number(c[5]));
    assert.equal(bytesIn.length, 5);
    assert.ok(bytesIn.every((b) => b <= LIMIT + 128 * 1024), `bytes_in of the refused uploads: ${bytesIn.join(', ')}`);
    assert.ok(bytesIn.includes(0), 'the Expect: 100-continue upload was refused with no body read');

    const fds1 = await pollUntil(() => fdCount(pid), (n) => n <= fds0, 10_000);
    assert.ok(fds1 <= fds0, `server fds ${fds1}, ${fds0} before`);
    assert.equal(await hb.stop(), 0);
  });

  it('GET/HEAD with a body: never read, answered with Connection: close; over the upload limit 413, as an upload', async () => {
    hb = await startServer(['--upload-limit', '1024', '--log']);
    const { port } = hb;
    const head = (method: string, headers: string[]): Buffer => requestBytes({ method, target: '/heartbeat/17', headers });

    // The GET with Content-Length: 512 MiB, from a client that keeps sending: 413, and the server
    // ends the connection long before the body is through (it read it all before, answered 200 keep-alive).
    for (const [what, bytes, chunked] of [
      ['GET declaring 512 MiB', head('GET', [`Content-Length: ${512 * MIB}`]), false],
      ['GET, chunked', head('GET', ['Transfer-Encoding: chunked']), true],
      ['HEAD, chunked', head('HEAD', ['Transfer-Encoding: chunked']), true],
    ] as const) {
      const r = await pushUpload(port, bytes, chunked);
      assert.ok(r.closedByServer, `${what}: the server did not end the connection; we sent ${r.sent} bytes`);
      assert.ok(r.sent < 64 * MIB, `${what}: the client could send ${r.sent} bytes before the server ended the connection`);
      assert.ok(r.responses.length <= 1, `${what}: ${r.responses.length} responses`);
    }

    // A small body (within the limit): the heartbeat is served, and the connection closed after it, unread.
    for (const method of ['GET', 'HEAD']) {
      const got = await new Promise<{ raw: Buffer; closed: boolean }>((resolve) => {
        const sock = net.connect(port, '127.0.0.1');
        const parts: Buffer[] = [];
        sock.on('data', (c: Buffer) => parts.push(c));
        sock.on('error', () => undefined);
        const bound = setTimeout(() => { sock.destroy(); resolve({ raw: Buffer.concat(parts), closed: false }); }, 10_000);
        sock.on('close', () => { clearTimeout(bound); resolve({ raw: Buffer.concat(parts), closed: true }); });
        sock.write(Buffer.concat([head(method, ['Content-Length: 10']), Buffer.from('0123456789')]));
      });
      const parser = new ResponseParser({ keepBody: true });
      parser.expect(method === 'HEAD');
      const [r] = parser.push(got.raw);
      assert.equal(r?.status, 200, `${method} with a 10-byte body: ${got.raw.toString('latin1').slice(0, 200)}`);
      assert.equal(r.headers.connection, 'close', method);
      assert.equal(r.headers['content-length'], '17');
      assert.equal(r.bodyBytes, method === 'HEAD' ? 0 : 17);
      assert.ok(got.closed, `${method}: the server closed the connection after its answer`);
    }

    const lines = (): string[][] => hb!.lines.map((l) => l.split('\t')).filter((c) => c[1] === 'request');
    await waitFor(() => lines().length >= 5, 5000, 'five request lines');
    const got = lines().map((c) => [c[6], c[2]]);
    assert.deepEqual(got.slice(-2), [['GET', '200'], ['HEAD', '200']]);
    assert.deepEqual(got[0], ['GET', '413'], 'the declared 512 MiB is over the upload limit');
    // the bytes_in of a body nobody reads: what the parser took before the connection closed, never 512 MiB
    assert.ok(lines().every((c) => Number(c[5]) <= 1024 * 1024), lines().map((c) => c.join(' ')).join('\n'));
    assert.equal(await hb.stop(), 0);
  });
});
